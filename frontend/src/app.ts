/** The signed-in app: top bar, library (grid, filters, selection, uploads, viewer) and admin. */

import { AdminPage } from "./admin";
import { Api, ApiError, MAX_BULK } from "./api";
import { clearSession, shortUser, type Session } from "./auth";
import { confirmDialog, shortcutsDialog } from "./confirm";
import { h, icon, isMac, isTypingTarget } from "./dom";
import { downloadOne, downloadZip } from "./download";
import { formatBytes, formatCount, formatDateTime, pluralize } from "./format";
import { FileGrid } from "./grid";
import { icons } from "./icons";
import { Library } from "./library";
import { Selection } from "./selection";
import { toast } from "./toast";
import type { FileType, ProcessingStatus } from "./types";
import { Uploader } from "./uploads";
import { Viewer } from "./viewer";

export interface AppContext {
  root: HTMLElement;
  session: Session;
  onSignOut(reason: "signout" | "expired", message?: string): void;
}

const TYPES: { value: FileType | ""; label: string }[] = [
  { value: "", label: "All" },
  { value: "video", label: "Videos" },
  { value: "image", label: "Images" },
  { value: "other", label: "Other" },
];

const STATUSES: { value: ProcessingStatus | ""; label: string }[] = [
  { value: "", label: "Any status" },
  { value: "processing", label: "Processing" },
  { value: "pending", label: "Queued" },
  { value: "completed", label: "Ready" },
  { value: "failed", label: "Failed" },
];

export class App {
  private readonly api: Api;
  private readonly library: Library;
  private readonly selection = new Selection();
  private readonly grid: FileGrid;
  private readonly viewer: Viewer;
  private readonly uploader: Uploader;
  private admin: AdminPage | null = null;
  private readonly session: Session;
  private readonly main: HTMLElement;
  private readonly libraryView: HTMLElement;
  private readonly countEl: HTMLElement;
  private readonly selectionBar: HTMLElement;
  private readonly selectionCount: HTMLElement;
  private readonly pill: HTMLButtonElement;
  private readonly banner: HTMLElement;
  private readonly search: HTMLInputElement;
  private readonly navLinks: Record<string, HTMLAnchorElement> = {};
  private timers: ReturnType<typeof setTimeout>[] = [];
  private disposed = false;
  private readonly onHash = () => this.route();
  private readonly onGlobalKey = (e: KeyboardEvent) => this.globalKey(e);

  constructor(private readonly ctx: AppContext) {
    this.session = ctx.session;
    this.api = new Api({
      token: () => this.session.token,
      onUnauthorized: (msg) => this.expire(msg),
    });
    this.library = new Library(this.api);
    this.grid = new FileGrid(this.library, this.selection, {
      open: (id) => this.viewer.open(id),
      warm: (id) => this.viewer.warm(id),
      requestDelete: (ids) => void this.deleteFiles(ids),
      selectAll: () => void this.selectAll(),
      refreshItem: (id) => void this.api.getFile(id).then((f) => this.library.upsert(f, true)).catch(() => undefined),
      emptyAction: () => this.uploader.open(),
    });
    this.viewer = new Viewer({
      api: this.api,
      library: this.library,
      order: () => this.library.fileIds(),
      onClose: (id) => (id ? this.grid.focusId(id) : this.grid.focusAt(0)),
      download: (id) => this.downloadSingle(id),
      requestDelete: (ids) => this.deleteFiles(ids),
    });
    this.uploader = new Uploader({
      library: this.library,
      userId: this.session.claims.sub,
      token: () => this.session.token,
      onUnauthorized: () => this.expire("token expired"),
      notify: (m, k) => toast(m, k),
    });

    // --- top bar ---
    this.search = h("input", {
      type: "search",
      class: "search-input",
      placeholder: "Search by name",
      "aria-label": "Search files by name",
      autocomplete: "off",
      spellcheck: false,
    }) as HTMLInputElement;
    let debounce: ReturnType<typeof setTimeout> | undefined;
    this.search.addEventListener("input", () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => this.applyFilters({ q: this.search.value.trim() }), 250);
    });
    this.search.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && this.search.value) {
        e.stopPropagation();
        this.search.value = "";
        this.applyFilters({ q: "" });
      } else if (e.key === "ArrowDown" || e.key === "Enter") {
        e.preventDefault();
        clearTimeout(debounce);
        this.applyFilters({ q: this.search.value.trim() });
        this.grid.focusAt(0);
      }
    });
    const isAdmin = this.session.claims.role === "admin";
    const nav = h(
      "nav",
      { class: `nav ${isAdmin ? "" : "nav-single"}`, "aria-label": "Sections" },
      (this.navLinks.library = h("a", { href: "#/", class: "nav-link" }, icon(icons.grid, "icon icon-sm"), h("span", { class: "label" }, "Library")) as HTMLAnchorElement),
      isAdmin ? (this.navLinks.admin = h("a", { href: "#/admin", class: "nav-link" }, icon(icons.gauge, "icon icon-sm"), h("span", { class: "label" }, "Admin")) as HTMLAnchorElement) : null,
    );
    const exp = new Date(this.session.claims.exp * 1000);
    const userMenu = h(
      "details",
      { class: "user-menu" },
      h(
        "summary",
        { "aria-label": `Account: user ${shortUser(this.session.claims.sub)}${isAdmin ? ", admin" : ""}` },
        h("span", { class: "avatar", "aria-hidden": "true" }, this.session.claims.sub.slice(0, 2).toUpperCase()),
        isAdmin ? h("span", { class: "role-badge" }, "Admin") : null,
      ),
      h(
        "div",
        { class: "user-pop" },
        h("div", { class: "muted" }, "Signed in as"),
        h("div", { class: "mono user-id" }, this.session.claims.sub),
        h("div", { class: "muted small" }, `Session ends ${formatDateTime(exp)}`),
        h("button", { class: "btn btn-secondary btn-block", type: "button", onclick: () => ctx.onSignOut("signout") }, icon(icons.logout, "icon icon-sm"), "Sign out"),
      ),
    );
    const uploadBtn = h(
      "button",
      { class: "btn btn-primary upload-btn", type: "button", title: "Upload files (u)", onclick: () => this.uploader.open() },
      icon(icons.upload),
      h("span", { class: "label" }, "Upload"),
    );
    const topbar = h(
      "header",
      { class: "topbar" },
      h("a", { class: "skip-link", href: "#main", onclick: (e: Event) => { e.preventDefault(); this.focusMain(); } }, "Skip to files"),
      h("a", { class: "brand", href: "#/", "aria-label": "Mediagate home", html: icons.logo }, h("span", { class: "brand-name" }, "Mediagate")),
      nav,
      h("div", { class: "search" }, icon(icons.search, "icon icon-sm search-icon"), this.search, h("kbd", { class: "search-kbd", "aria-hidden": "true" }, "/")),
      h("div", { class: "topbar-actions" }, uploadBtn, userMenu),
    );

    // --- toolbar ---
    const typeGroup = h(
      "div",
      { class: "segmented", role: "radiogroup", "aria-label": "File type" },
      TYPES.map((t) =>
        h(
          "label",
          { class: "segment" },
          h("input", {
            type: "radio",
            name: "type",
            value: t.value,
            checked: t.value === "",
            onchange: (e: Event) => this.applyFilters({ type: (e.target as HTMLInputElement).value as FileType | "" }),
          }),
          h("span", {}, t.label),
        ),
      ),
    );
    const statusSelect = h(
      "select",
      { class: "select", "aria-label": "Processing status", onchange: (e: Event) => this.applyFilters({ status: (e.target as HTMLSelectElement).value as ProcessingStatus | "" }) },
      STATUSES.map((s) => h("option", { value: s.value }, s.label)),
    );
    this.countEl = h("span", { class: "count", "aria-live": "polite" });
    const keysBtn = h(
      "button",
      { class: "btn-icon keys-btn", type: "button", "aria-label": "Keyboard shortcuts", title: "Keyboard shortcuts (?)", onclick: () => shortcutsDialog(isMac ? "⌘" : "Ctrl") },
      icon(icons.keyboard),
    );
    const toolbar = h("div", { class: "toolbar" }, typeGroup, statusSelect, h("span", { class: "spacer" }), this.countEl, keysBtn);

    this.selectionCount = h("span", { class: "selection-count", "aria-live": "polite" });
    this.selectionBar = h(
      "div",
      { class: "selection-bar", role: "toolbar", "aria-label": "Selection", hidden: true },
      h("button", { class: "btn-icon", type: "button", "aria-label": "Clear selection", title: "Clear selection (Esc)", onclick: () => this.selection.clear() }, icon(icons.close)),
      this.selectionCount,
      h("span", { class: "spacer" }),
      h("button", { class: "btn btn-ghost", type: "button", onclick: () => void this.selectAll() }, "Select all"),
      h("button", { class: "btn btn-secondary", type: "button", "data-action": "zip", onclick: () => void this.downloadSelection() }, icon(icons.download), h("span", { class: "label" }, "Download ZIP")),
      h("button", { class: "btn btn-danger-ghost", type: "button", "data-action": "delete", onclick: () => void this.deleteFiles(this.selection.ordered(this.library.fileIds())) }, icon(icons.trash), h("span", { class: "label" }, "Delete")),
    );
    this.banner = h("div", { class: "banner", hidden: true, role: "region", "aria-label": "Interrupted uploads" });
    this.libraryView = h("div", { class: "library" }, h("div", { class: "toolbar-wrap" }, toolbar, this.selectionBar), this.banner, this.grid.root);
    this.main = h("main", { id: "main", class: "main", tabindex: "-1" }, h("h1", { class: "sr-only" }, "Library"), this.libraryView);

    this.pill = h("button", { class: "upload-pill", type: "button", hidden: true, onclick: () => this.uploader.open() }) as HTMLButtonElement;
    ctx.root.replaceChildren(h("div", { class: "app" }, topbar, this.main, this.pill));

    this.selection.onChange(() => this.syncSelection());
    this.library.onChange(() => this.syncCount());
    this.uploader.onChange(() => this.syncUploads());
    window.addEventListener("hashchange", this.onHash);
    document.addEventListener("keydown", this.onGlobalKey);
    this.scheduleExpiry();
    this.library.startLive();
    this.route();
    void this.library.reload();
  }

  destroy(): void {
    this.disposed = true;
    this.timers.forEach(clearTimeout);
    window.removeEventListener("hashchange", this.onHash);
    document.removeEventListener("keydown", this.onGlobalKey);
    this.library.stopLive();
    this.admin?.stop();
    this.viewer.close();
    this.viewer.dialog.remove();
    this.grid.destroy();
    this.uploader.destroy();
    document.querySelectorAll(".uppy-Dashboard, .toasts").forEach((el) => el.remove());
  }

  private focusMain(): void {
    if (location.hash.startsWith("#/admin")) this.admin?.el.focus();
    else this.grid.focusAt(0);
  }

  private route(): void {
    const admin = location.hash.startsWith("#/admin") && this.session.claims.role === "admin";
    Object.entries(this.navLinks).forEach(([k, a]) => {
      const on = (k === "admin") === admin;
      a.classList.toggle("active", on);
      if (on) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    });
    this.ctx.root.firstElementChild?.classList.toggle("route-admin", admin);
    if (admin) {
      document.title = "Admin · Mediagate";
      this.viewer.close();
      this.admin ??= new AdminPage(this.api);
      this.main.replaceChildren(this.admin.el);
      this.admin.start();
      this.library.stopLive();
    } else {
      document.title = "Library · Mediagate";
      if (location.hash.startsWith("#/admin")) history.replaceState(null, "", "#/");
      this.admin?.stop();
      if (!this.main.contains(this.libraryView)) {
        this.main.replaceChildren(h("h1", { class: "sr-only" }, "Library"), this.libraryView);
        this.library.startLive();
        this.grid.schedule();
      }
    }
  }

  private applyFilters(f: Partial<{ type: FileType | ""; status: ProcessingStatus | ""; q: string }>): void {
    this.selection.clear();
    this.grid.resetScroll();
    this.library.setFilters(f);
  }

  private syncCount(): void {
    const lib = this.library;
    const n = lib.items.length;
    const filtered = !!(lib.filters.q || lib.filters.type || lib.filters.status);
    if (!lib.loadedOnce) this.countEl.textContent = lib.loading ? "Loading…" : "";
    else this.countEl.textContent = `${formatCount(n)}${lib.hasMore ? "+" : ""} ${filtered ? (n === 1 && !lib.hasMore ? "match" : "matches") : n === 1 && !lib.hasMore ? "file" : "files"}`;
    if (this.selection.size) this.selection.retain(new Set(lib.fileIds()));
  }

  private syncSelection(): void {
    const n = this.selection.size;
    this.selectionBar.hidden = n === 0;
    this.libraryView.classList.toggle("has-selection", n > 0);
    if (n) {
      const ids = this.selection.ids();
      const bytes = ids.reduce((sum, id) => sum + (this.library.get(id)?.size ?? 0), 0);
      this.selectionCount.textContent = `${pluralize(n, "file")} selected · ${formatBytes(bytes)}`;
    }
  }

  private syncUploads(): void {
    const a = this.uploader.active();
    if (a.count > 0 && !this.uploader.isOpen()) {
      this.pill.hidden = false;
      const pct = Math.round(a.progress);
      this.pill.replaceChildren(
        h("span", { class: "ring", style: { "--p": `${pct}` } as unknown as Record<string, string> }),
        h("span", {}, a.failed ? `${a.failed} failed · ` : "", a.paused ? "Paused" : `Uploading ${pluralize(a.count, "file")}`, h("strong", {}, ` ${pct}%`)),
      );
      this.pill.setAttribute("aria-label", `${a.paused ? "Uploads paused" : `Uploading ${a.count} files`}, ${pct}% done. Open the upload panel.`);
    } else {
      this.pill.hidden = true;
    }
    const list = this.uploader.interrupted;
    this.banner.hidden = list.length === 0;
    if (list.length) {
      const picker = h("input", { type: "file", multiple: true, hidden: true, onchange: (e: Event) => {
        const files = [...((e.target as HTMLInputElement).files ?? [])];
        if (files.length) this.uploader.addFiles(files);
      } }) as HTMLInputElement;
      const items = list.slice(0, 3).map((u) => {
        const pct = u.offset !== undefined && u.size ? Math.round((u.offset / u.size) * 100) : null;
        return h("li", {}, h("strong", {}, u.name), h("span", { class: "muted" }, ` ${formatBytes(u.size)}${pct !== null ? ` · ${pct}% uploaded` : ""}`));
      });
      this.banner.replaceChildren(
        icon(icons.cloud, "icon banner-icon"),
        h(
          "div",
          { class: "banner-text" },
          h("strong", {}, `${pluralize(list.length, "upload")} ${list.length === 1 ? "was" : "were"} interrupted. `),
          h("span", {}, "Choose the same files again to resume where they stopped."),
          h("ul", { class: "banner-list" }, items, list.length > 3 ? h("li", { class: "muted" }, `and ${list.length - 3} more`) : null),
        ),
        picker,
        h("button", { class: "btn btn-primary btn-sm", type: "button", "data-action": "resume", onclick: () => picker.click() }, "Choose files to resume"),
        h("button", { class: "btn btn-ghost btn-sm", type: "button", onclick: () => void this.uploader.discardInterrupted() }, "Discard"),
      );
    }
  }

  private async selectAll(): Promise<void> {
    if (this.library.hasMore) {
      const close = toast("Loading the whole list to select everything…", "info", { timeout: 0 });
      await this.library.loadAll();
      close();
    }
    this.selection.selectAll(this.library.fileIds());
  }

  private async downloadSingle(id: string): Promise<void> {
    try {
      const name = await downloadOne(this.api, id);
      toast(`Downloading ${name}`, "success");
    } catch (err) {
      toast(`Download failed: ${(err as Error).message}`, "error");
    }
  }

  private async downloadSelection(): Promise<void> {
    const ids = this.selection.ordered(this.library.fileIds());
    if (!ids.length) return;
    if (ids.length === 1) return this.downloadSingle(ids[0]);
    if (ids.length > MAX_BULK) {
      toast(`A ZIP can hold up to ${MAX_BULK} files. Select fewer files, or download in parts.`, "error");
      return;
    }
    const bytes = ids.reduce((s, id) => s + (this.library.get(id)?.size ?? 0), 0);
    const close = toast(`Preparing a ZIP of ${pluralize(ids.length, "file")} (${formatBytes(bytes)})…`, "info", { timeout: 0 });
    try {
      const route = await downloadZip(this.api, this.session.token, ids);
      close();
      document.documentElement.dataset.zipRoute = route;
      toast(`Downloading ${pluralize(ids.length, "file")} as one ZIP (${formatBytes(bytes)}).`, "success");
    } catch (err) {
      close();
      if (err instanceof ApiError && err.status === 401) this.expire(err.message);
      else toast(`ZIP download failed: ${(err as Error).message}`, "error");
    }
  }

  private async deleteFiles(ids: string[]): Promise<boolean> {
    if (!ids.length) return false;
    const first = this.library.get(ids[0]);
    const ok = await confirmDialog({
      title: ids.length === 1 ? `Delete “${first?.name ?? "this file"}”?` : `Delete ${formatCount(ids.length)} files?`,
      body:
        ids.length === 1
          ? "The original and all its previews are removed for good. This can't be undone."
          : `The originals and all their previews (${formatBytes(ids.reduce((s, id) => s + (this.library.get(id)?.size ?? 0), 0))}) are removed for good. This can't be undone.`,
      confirm: ids.length === 1 ? "Delete file" : `Delete ${formatCount(ids.length)} files`,
      danger: true,
    });
    if (!ok) return false;
    try {
      const focused = this.grid.focusedId();
      const res = await this.api.deleteFiles(ids);
      const gone = [...res.deleted, ...res.not_found];
      this.library.remove(gone);
      this.selection.remove(gone);
      toast(`${pluralize(res.deleted.length, "file")} deleted.`, "success");
      if (!this.viewer.isOpen) {
        if (focused && this.library.get(focused)) this.grid.focusId(focused);
        else this.grid.focusAt(Math.min(this.grid.indexOf(focused ?? "") , this.library.items.length - 1));
      }
      return true;
    } catch (err) {
      toast(`Delete failed: ${(err as Error).message}`, "error");
      return false;
    }
  }

  private globalKey(e: KeyboardEvent): void {
    if (this.viewer.isOpen || this.uploader.isOpen() || document.querySelector("dialog.confirm[open]")) return;
    if (e.key === "?" && !isTypingTarget(e.target)) {
      e.preventDefault();
      shortcutsDialog(isMac ? "⌘" : "Ctrl");
      return;
    }
    if (isTypingTarget(e.target)) return;
    const mod = isMac ? e.metaKey : e.ctrlKey;
    const inGrid = this.grid.containsFocus();
    if (e.key === "/" && !mod) {
      e.preventDefault();
      this.search.focus();
      this.search.select();
    } else if ((e.key === "u" || e.key === "U") && !mod && !e.altKey) {
      e.preventDefault();
      this.uploader.open();
    } else if (!inGrid && mod && (e.key === "a" || e.key === "A") && !location.hash.startsWith("#/admin")) {
      e.preventDefault();
      void this.selectAll();
    } else if (!inGrid && e.key === "Escape" && this.selection.size) {
      this.selection.clear();
    }
  }

  private scheduleExpiry(): void {
    const ms = this.session.claims.exp * 1000 - Date.now();
    const max = 2 ** 31 - 1;
    if (ms - 5 * 60_000 > 0 && ms - 5 * 60_000 < max) {
      this.timers.push(setTimeout(() => toast("Your session ends in 5 minutes. Keep a new token ready (make token).", "info", { timeout: 15000 }), ms - 5 * 60_000));
    }
    if (ms < max) this.timers.push(setTimeout(() => this.expire("token expired"), Math.max(0, ms)));
  }

  private expire(message: string): void {
    if (this.disposed) return;
    this.disposed = true;
    this.ctx.onSignOut("expired", message);
  }
}

export function startApp(ctx: AppContext): App {
  return new App(ctx);
}

export function signOut(reason: "signout" | "expired"): void {
  clearSession(reason);
}
