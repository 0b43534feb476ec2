/** A confirmation dialog (modal, focus trapped, Esc cancels, focus returns). */

import { h, trapFocus } from "./dom";

export function confirmDialog(opts: { title: string; body: string; confirm: string; danger?: boolean }): Promise<boolean> {
  return new Promise((resolve) => {
    const previous = document.activeElement as HTMLElement | null;
    const cancelBtn = h("button", { class: "btn btn-secondary", type: "button", value: "cancel" }, "Cancel") as HTMLButtonElement;
    const okBtn = h("button", { class: `btn ${opts.danger ? "btn-danger" : "btn-primary"}`, type: "button", value: "ok" }, opts.confirm) as HTMLButtonElement;
    const dialog = h(
      "dialog",
      { class: "confirm", "aria-labelledby": "confirm-title", "aria-describedby": "confirm-body" },
      h("h2", { id: "confirm-title" }, opts.title),
      h("p", { id: "confirm-body" }, opts.body),
      h("div", { class: "confirm-actions" }, cancelBtn, okBtn),
    ) as HTMLDialogElement;
    document.body.append(dialog);
    const untrap = trapFocus(dialog);
    const finish = (result: boolean) => {
      untrap();
      dialog.close();
      dialog.remove();
      if (previous?.isConnected) previous.focus({ preventScroll: true });
      resolve(result);
    };
    cancelBtn.addEventListener("click", () => finish(false));
    okBtn.addEventListener("click", () => finish(true));
    dialog.addEventListener("cancel", (e) => {
      e.preventDefault();
      finish(false);
    });
    dialog.addEventListener("keydown", (e) => e.stopPropagation());
    dialog.showModal();
    cancelBtn.focus();
  });
}

/** The keyboard shortcuts sheet (modal; Esc or the button closes it). */
export function shortcutsDialog(mod: string): void {
  const previous = document.activeElement as HTMLElement | null;
  type Keys = (string | [string])[]; // [x] is a separator, not a key
  const sections: [string, [Keys, string][]][] = [
    [
      "Library",
      [
        [["←", "→", "↑", "↓"], "Move between files"],
        [["Space"], "Select or deselect"],
        [["Shift", [" + "], "arrows"], "Extend the selection"],
        [["Shift", [" + "], "click"], "Select a range"],
        [[mod, [" + "], "click"], "Add or remove one file"],
        [[mod, [" + "], "A"], "Select all"],
        [["Enter", [" or "], "click"], "Open a file"],
        [["F"], "Add to or remove from favourites"],
        [["Delete"], "Move the selection to the trash"],
        [["Esc"], "Clear the selection"],
        [["/"], "Search"],
        [["U"], "Upload files"],
      ],
    ],
    [
      "Viewer",
      [
        [["←", "→"], "Previous / next file"],
        [["+", "−", "0"], "Zoom in / out / fit"],
        [["K", [" or "], "Space"], "Play or pause"],
        [["J", "L"], "Back / forward 10 s"],
        [["M", "F", "I"], "Mute, full screen, details"],
        [["F2"], "Rename"],
        [["Esc"], "Close"],
      ],
    ],
  ];
  const keys = (k: Keys) => k.map((part) => (Array.isArray(part) ? h("span", { class: "muted" }, part[0]) : h("kbd", {}, part)));
  const close = h("button", { class: "btn btn-secondary", type: "button" }, "Close") as HTMLButtonElement;
  const dialog = h(
    "dialog",
    { class: "confirm shortcuts", "aria-labelledby": "shortcuts-title" },
    h("h2", { id: "shortcuts-title" }, "Keyboard shortcuts"),
    h(
      "div",
      { class: "shortcut-sections" },
      sections.map(([title, rows]) =>
        h("section", {}, h("h3", {}, title), h("dl", { class: "shortcut-list" }, rows.flatMap(([k, v]) => [h("dt", {}, keys(k)), h("dd", {}, v)]))),
      ),
    ),
    h("div", { class: "confirm-actions" }, close),
  ) as HTMLDialogElement;
  document.body.append(dialog);
  const untrap = trapFocus(dialog);
  const finish = () => {
    untrap();
    dialog.close();
    dialog.remove();
    if (previous?.isConnected) previous.focus({ preventScroll: true });
  };
  close.addEventListener("click", finish);
  dialog.addEventListener("cancel", (e) => {
    e.preventDefault();
    finish();
  });
  dialog.addEventListener("keydown", (e) => e.stopPropagation());
  dialog.showModal();
  close.focus();
}
