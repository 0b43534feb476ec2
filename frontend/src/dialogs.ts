/**
 * Small modal dialogs for organizing: a name prompt, the "add to album" picker and the share
 * dialog. All are <dialog>s with a heading, labelled fields, focus trapped, Esc closes and
 * focus returns to where it was.
 */

import type { Api } from "./api";
import { h, icon, trapFocus } from "./dom";
import { formatDateTime, parseServerDate, pluralize } from "./format";
import { icons } from "./icons";
import type { Album, Share } from "./orgtypes";
import { toast } from "./toast";

let seq = 0;

/** Open a modal; `build` gets a `close` function and returns the body. */
export function modal(title: string, build: (close: () => void) => HTMLElement[], cls = ""): { dialog: HTMLDialogElement; closed: Promise<void> } {
  const previous = document.activeElement as HTMLElement | null;
  const id = `dlg-title-${++seq}`;
  let resolve!: () => void;
  const closed = new Promise<void>((r) => (resolve = r));
  const dialog = h("dialog", { class: `confirm ${cls}`, "aria-labelledby": id }) as HTMLDialogElement;
  let untrap = () => {};
  const close = () => {
    if (!dialog.isConnected) return;
    untrap();
    dialog.close();
    dialog.remove();
    if (previous?.isConnected) previous.focus({ preventScroll: true });
    resolve();
  };
  dialog.append(h("h2", { id }, title), ...build(close));
  document.body.append(dialog);
  untrap = trapFocus(dialog);
  dialog.addEventListener("cancel", (e) => {
    e.preventDefault();
    close();
  });
  dialog.addEventListener("keydown", (e) => e.stopPropagation());
  dialog.showModal();
  dialog.querySelector<HTMLElement>("input, select, .btn-primary, button")?.focus();
  return { dialog, closed };
}

/** Ask for a name (album create/rename). Resolves null on cancel. */
export function promptName(opts: { title: string; label: string; value?: string; confirm: string }): Promise<string | null> {
  return new Promise((resolve) => {
    let result: string | null = null;
    const { closed } = modal(opts.title, (close) => {
      const input = h("input", { class: "input", type: "text", value: opts.value ?? "", maxlength: 200, required: true, name: "name" }) as HTMLInputElement;
      const form = h(
        "form",
        {
          class: "dialog-form",
          onsubmit: (e: Event) => {
            e.preventDefault();
            const v = input.value.trim();
            if (!v) return input.focus();
            result = v;
            close();
          },
        },
        h("label", { class: "field" }, h("span", {}, opts.label), input),
        h(
          "div",
          { class: "confirm-actions" },
          h("button", { class: "btn btn-secondary", type: "button", onclick: close }, "Cancel"),
          h("button", { class: "btn btn-primary", type: "submit" }, opts.confirm),
        ),
      );
      setTimeout(() => input.select());
      return [form];
    });
    void closed.then(() => resolve(result));
  });
}

/** Pick an album (or make a new one) for `count` files. Resolves the album, or null. */
export function pickAlbum(api: Api, count: number): Promise<Album | null> {
  return new Promise((resolve) => {
    let result: Album | null = null;
    const { closed } = modal(`Add ${pluralize(count, "file")} to an album`, (close) => {
      const list = h("ul", { class: "album-pick", "aria-label": "Albums" }, h("li", { class: "muted" }, "Loading albums…"));
      const name = h("input", { class: "input", type: "text", maxlength: 200, placeholder: "New album name", "aria-label": "New album name" }) as HTMLInputElement;
      const create = h(
        "form",
        {
          class: "inline-form",
          onsubmit: async (e: Event) => {
            e.preventDefault();
            const v = name.value.trim();
            if (!v) return name.focus();
            try {
              result = await api.createAlbum(v);
              close();
            } catch (err) {
              toast(`Could not create the album: ${(err as Error).message}`, "error");
            }
          },
        },
        name,
        h("button", { class: "btn btn-primary", type: "submit" }, icon(icons.plus, "icon icon-sm"), "Create album"),
      );
      void api
        .listAlbums()
        .then((page) => {
          list.replaceChildren(
            ...(page.items.length
              ? page.items.map((a) =>
                  h(
                    "li",
                    {},
                    h(
                      "button",
                      { class: "btn btn-ghost album-choice", type: "button", "data-album": a.id, onclick: () => ((result = a), close()) },
                      icon(icons.album, "icon icon-sm"),
                      h("span", {}, a.name),
                      h("span", { class: "muted" }, ` ${pluralize(a.file_count, "file")}`),
                    ),
                  ),
                )
              : [h("li", { class: "muted" }, "No albums yet: name a new one below.")]),
          );
        })
        .catch((err: Error) => list.replaceChildren(h("li", { class: "error-text" }, `Could not load albums: ${err.message}`)));
      return [list, create, h("div", { class: "confirm-actions" }, h("button", { class: "btn btn-secondary", type: "button", onclick: close }, "Cancel"))];
    });
    void closed.then(() => resolve(result));
  });
}

const EXPIRY: { label: string; seconds: number | null }[] = [
  { label: "1 hour", seconds: 3600 },
  { label: "1 day", seconds: 86_400 },
  { label: "7 days", seconds: 604_800 },
  { label: "30 days", seconds: 2_592_000 },
  { label: "1 year", seconds: 31_536_000 },
  { label: "Never", seconds: null },
];

async function copy(text: string, input?: HTMLInputElement): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
    toast("Link copied", "success");
  } catch {
    input?.select();
    document.execCommand?.("copy");
    toast("Link selected: press Ctrl+C to copy it", "info");
  }
}

/** Create, copy, list and revoke share links for a file or an album. */
export function shareDialog(api: Api, target: { file_id: string } | { album_id: string }, name: string): Promise<void> {
  return modal(
    `Share “${name}”`,
    (close) => {
      const expiry = h(
        "select",
        { class: "select", name: "expiry" },
        EXPIRY.map((e) => h("option", { value: e.seconds === null ? "never" : String(e.seconds), selected: e.seconds === 604_800 }, e.label)),
      ) as HTMLSelectElement;
      const allow = h("input", { type: "checkbox", name: "allow_download" }) as HTMLInputElement;
      const list = h("ul", { class: "share-list", "aria-label": "Links", "aria-live": "polite" });
      const render = (shares: Share[]) => {
        const live = shares.filter((s) => !s.revoked_at);
        if (!live.length) {
          list.replaceChildren(h("li", { class: "muted" }, "No links yet."));
          return;
        }
        list.replaceChildren(
          ...live.map((s) => {
            const url = h("input", { class: "input mono share-url", type: "text", readonly: true, value: s.url, "aria-label": "Share link" }) as HTMLInputElement;
            const exp = parseServerDate(s.expires_at);
            const expired = !!exp && exp.getTime() < Date.now();
            return h(
              "li",
              { class: "share-item", "data-share": s.id },
              url,
              h(
                "div",
                { class: "share-meta" },
                h("span", { class: "muted" }, expired ? "Expired" : exp ? `Expires ${formatDateTime(exp)}` : "Never expires"),
                h("span", { class: "muted" }, s.allow_download ? " · downloads allowed" : " · view only"),
                h("span", { class: "muted share-views" }, ` · ${pluralize(s.views, "view")}`),
              ),
              h(
                "div",
                { class: "share-actions" },
                h("button", { class: "btn btn-secondary btn-sm", type: "button", "data-action": "copy", onclick: () => void copy(s.url, url) }, icon(icons.link, "icon icon-sm"), "Copy link"),
                h(
                  "button",
                  {
                    class: "btn btn-danger-ghost btn-sm",
                    type: "button",
                    "data-action": "revoke",
                    onclick: async () => {
                      try {
                        await api.revokeShare(s.id);
                        toast("Link revoked: it stops working now", "success");
                        await refresh();
                      } catch (err) {
                        toast(`Could not revoke: ${(err as Error).message}`, "error");
                      }
                    },
                  },
                  "Revoke",
                ),
              ),
            );
          }),
        );
      };
      const refresh = async () => {
        try {
          render(await api.listShares(target));
        } catch (err) {
          list.replaceChildren(h("li", { class: "error-text" }, `Could not load links: ${(err as Error).message}`));
        }
      };
      const form = h(
        "form",
        {
          class: "dialog-form share-form",
          onsubmit: async (e: Event) => {
            e.preventDefault();
            try {
              const seconds = expiry.value === "never" ? null : Number(expiry.value);
              const share = await api.createShare({ ...target, expires_in_seconds: seconds, allow_download: allow.checked });
              await refresh();
              const input = list.querySelector<HTMLInputElement>(`[data-share="${share.id}"] .share-url`);
              input?.focus();
              input?.select();
            } catch (err) {
              toast(`Could not create the link: ${(err as Error).message}`, "error");
            }
          },
        },
        h("label", { class: "field" }, h("span", {}, "Expires after"), expiry),
        h("label", { class: "check-field" }, allow, h("span", {}, "Allow downloading the originals")),
        h("button", { class: "btn btn-primary", type: "submit", "data-action": "create-share" }, icon(icons.link, "icon icon-sm"), "Create link"),
      );
      void refresh();
      return [
        h("p", { class: "muted" }, "Anyone with a link can view without signing in, until it expires or you revoke it."),
        form,
        h("h3", {}, "Links"),
        list,
        closeButtonRow(close),
      ];
    },
    "share-dialog",
  ).closed.then(() => undefined);
}

export function closeButtonRow(close: () => void): HTMLElement {
  return h("div", { class: "confirm-actions" }, h("button", { class: "btn btn-secondary", type: "button", onclick: close }, "Close"));
}
