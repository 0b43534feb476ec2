/**
 * The signed-in app: top bar, sidebar (library, favourites, albums, trash, admin), the file
 * pages (grid, sort/filters, selection, uploads, viewer), albums and admin, all behind hash
 * routes (router.ts) so deep links, Back/Forward and reload work.
 */

import { AdminPage } from "./admin";
import { AlbumStore, renderAlbumsPage } from "./albums";
import { pickAlbum, promptName, shareDialog } from "./dialogs";
import { DEFAULT_QUERY, isFiltered, isSortKey, scopeQuery, type Grouping, type ListQuery, type SortKey } from "./listing";
import type { Facets } from "./orgtypes";
import { formatRoute, parseRoute, sameScope, type Route, type Scope } from "./router";
import { routedViewer, ViewerUrl } from "./viewerurl";
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

const SORTS: { value: SortKey; label: string }[] = [
  { value: "uploaded", label: "Date uploaded" },
  { value: "taken", label: "Date taken" },
  { value: "name", label: "Name" },
  { value: "size", label: "Size" },
];

const GROUPINGS: { value: Grouping; label: string }[] = [
  { value: "none", label: "No grouping" },
  { value: "day", label: "Group by day" },
  { value: "month", label: "Group by month" },
];

const PREFS_KEY = "mediagate.view";

function loadPrefs(): { sort: SortKey; order: "asc" | "desc"; grouping: Grouping } {
  try {
    const raw = JSON.parse(localStorage.getItem(PREFS_KEY) ?? "{}") as Record<string, string>;
    return {
      sort: isSortKey(raw.sort ?? "") ? (raw.sort as SortKey) : "uploaded",
      order: raw.order === "asc" ? "asc" : "desc",
      grouping: raw.grouping === "day" || raw.grouping === "month" ? raw.grouping : "none",
    };
  } catch {
    return { sort: "uploaded", order: "desc", grouping: "none" };
  }
}

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
  private readonly albums: AlbumStore;
  private readonly viewerUrl: ViewerUrl;
  private admin: AdminPage | null = null;
  private albumsPage: (HTMLElement & { dispose?: () => void }) | null = null;
  private readonly session: Session;
  private readonly main: HTMLElement;
  private readonly libraryView: HTMLElement;
  private readonly pageHead: HTMLElement;
  private readonly countEl: HTMLElement;
  private readonly selectionBar: HTMLElement;
  private readonly selectionCount: HTMLElement;
  private readonly selectionActions: HTMLElement;
  private readonly pill: HTMLButtonElement;
  private readonly banner: HTMLElement;
  private readonly search: HTMLInputElement;
  private readonly sidebar: HTMLElement;
  private readonly sidebarAlbums: HTMLElement;
  private readonly sortSelect: HTMLSelectElement;
  private readonly orderBtn: HTMLButtonElement;
  private readonly groupSelect: HTMLSelectElement;
  private readonly filtersPanel: HTMLDetailsElement;
  private readonly navLinks: Record<string, HTMLAnchorElement> = {};
  private scope: Scope = { kind: "all" };
  private routeNow: Route = { page: "files", scope: { kind: "all" }, fileId: null };
  private grouping: Grouping;
  private facets: Facets | null = null;
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
    const prefs = loadPrefs();
    this.grouping = prefs.sort === "taken" ? prefs.grouping : "none";
    this.library.filters = { ...DEFAULT_QUERY, sort: prefs.sort, order: prefs.order };
    this.albums = new AlbumStore(this.api);
    this.viewerUrl = new ViewerUrl(() => ({ page: "files", scope: this.scope, fileId: null }));
    this.grid = new FileGrid(
      this.library,
      this.selection,
      {
        open: (id) => this.openFile(id),
        warm: (id) => this.viewer.warm(id),
        requestDelete: (ids) => void (this.scope.kind === "trash" ? this.purgeFiles(ids) : this.trashFiles(ids)),
        selectAll: () => void this.selectAll(),
        refreshItem: (id) => void this.api.getFile(id).then((f) => this.library.upsert(f, true)).catch(() => undefined),
        emptyAction: () => this.uploader.open(),
        toggleFavourite: (id) => void this.toggleFavourite(id),
      },
      {
        clickSelects: () => this.scope.kind === "trash",
        grouping: () => (this.library.filters.sort === "taken" ? this.grouping : "none"),
        empty: () => this.emptyText(),
      },
    );
    this.viewer = new Viewer({
      api: this.api,
      ...routedViewer(this.viewerUrl, this.library, this.grid),
      download: (id) => this.downloadSingle(id),
      requestDelete: (ids) => (this.scope.kind === "trash" ? this.purgeFiles(ids) : this.trashFiles(ids)),
      deleteLabel: () => (this.scope.kind === "trash" ? "Delete forever" : "Move to trash"),
      rename: (id, name) => this.rename(id, name),
      toggleFavourite: (id) => this.toggleFavourite(id),
      share: (id) => void this.shareFile(id),
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
    const navLink = (key: string, href: string, svg: string, label: string) =>
      (this.navLinks[key] = h("a", { href, class: "nav-link", "data-nav": key, title: label, "aria-label": label }, icon(svg, "icon icon-sm"), h("span", { class: "label" }, label)) as HTMLAnchorElement);
    this.sidebarAlbums = h("ul", { class: "side-albums", "aria-label": "Your albums" });
    this.sidebar = h(
      "nav",
      { class: "sidebar", "aria-label": "Sections" },
      navLink("library", "#/", icons.grid, "Library"),
      navLink("favourites", "#/favourites", icons.star, "Favourites"),
      navLink("albums", "#/albums", icons.album, "Albums"),
      this.sidebarAlbums,
      navLink("trash", "#/trash", icons.trash, "Trash"),
      isAdmin ? navLink("admin", "#/admin", icons.gauge, "Admin") : null,
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
    this.sortSelect = h(
      "select",
      { class: "select", "aria-label": "Sort by", name: "sort", onchange: () => this.setSort(this.sortSelect.value as SortKey) },
      SORTS.map((s) => h("option", { value: s.value, selected: s.value === prefs.sort }, s.label)),
    ) as HTMLSelectElement;
    this.orderBtn = h("button", { class: "btn-icon order-btn", type: "button", name: "order", onclick: () => this.setOrder(this.library.filters.order === "desc" ? "asc" : "desc") }) as HTMLButtonElement;
    this.groupSelect = h(
      "select",
      { class: "select", "aria-label": "Group by date taken", name: "group", onchange: () => this.setGrouping(this.groupSelect.value as Grouping) },
      GROUPINGS.map((g) => h("option", { value: g.value, selected: g.value === this.grouping }, g.label)),
    ) as HTMLSelectElement;
    this.filtersPanel = this.buildFilters();
    this.syncSortControls();
    this.countEl = h("span", { class: "count", "aria-live": "polite" });
    const keysBtn = h(
      "button",
      { class: "btn-icon keys-btn", type: "button", "aria-label": "Keyboard shortcuts", title: "Keyboard shortcuts (?)", onclick: () => shortcutsDialog(isMac ? "⌘" : "Ctrl") },
      icon(icons.keyboard),
    );
    const toolbar = h(
      "div",
      { class: "toolbar" },
      typeGroup,
      statusSelect,
      h("div", { class: "sort-group" }, this.sortSelect, this.orderBtn, this.groupSelect),
      this.filtersPanel,
      h("span", { class: "spacer" }),
      this.countEl,
      keysBtn,
    );

    this.selectionCount = h("span", { class: "selection-count", "aria-live": "polite" });
    this.selectionActions = h("div", { class: "selection-actions" });
    this.selectionBar = h(
      "div",
      { class: "selection-bar", role: "toolbar", "aria-label": "Selection", hidden: true },
      h("button", { class: "btn-icon", type: "button", "aria-label": "Clear selection", title: "Clear selection (Esc)", onclick: () => this.selection.clear() }, icon(icons.close)),
      this.selectionCount,
      h("span", { class: "spacer" }),
      h("button", { class: "btn btn-ghost", type: "button", onclick: () => void this.selectAll() }, "Select all"),
      this.selectionActions,
    );
    this.pageHead = h("div", { class: "page-head" });
    this.banner = h("div", { class: "banner", hidden: true, role: "region", "aria-label": "Interrupted uploads" });
    this.libraryView = h("div", { class: "library" }, this.pageHead, h("div", { class: "toolbar-wrap" }, toolbar, this.selectionBar), this.banner, this.grid.root);
    this.main = h("main", { id: "main", class: "main", tabindex: "-1" }, this.libraryView);

    this.pill = h("button", { class: "upload-pill", type: "button", hidden: true, onclick: () => this.uploader.open() }) as HTMLButtonElement;
    ctx.root.replaceChildren(h("div", { class: "app" }, topbar, h("div", { class: "shell" }, this.sidebar, this.main), this.pill));

    this.selection.onChange(() => this.syncSelection());
    this.library.onChange(() => this.syncCount());
    this.uploader.onChange(() => this.syncUploads());
    this.albums.onChange(() => this.syncAlbums());
    window.addEventListener("hashchange", this.onHash);
    document.addEventListener("keydown", this.onGlobalKey);
    this.scheduleExpiry();
    this.library.startLive();
    void this.albums.refresh();
    this.route();
    if (!this.library.loadedOnce && !this.library.loading) void this.library.reload();
  }

  destroy(): void {
    this.disposed = true;
    this.timers.forEach(clearTimeout);
    window.removeEventListener("hashchange", this.onHash);
    document.removeEventListener("keydown", this.onGlobalKey);
    this.library.stopLive();
    this.admin?.stop();
    this.viewerUrl.routing = true;
    this.viewer.close();
    this.viewer.dialog.remove();
    this.grid.destroy();
    this.uploader.destroy();
    this.albumsPage?.dispose?.();
    document.querySelectorAll(".uppy-Dashboard, .toasts").forEach((el) => el.remove());
  }

  private focusMain(): void {
    if (location.hash.startsWith("#/admin")) this.admin?.el.focus();
    else this.grid.focusAt(0);
  }

  // ---------------------------------------------------------------- routing

  private route(): void {
    if (this.disposed) return;
    let r = parseRoute(location.hash);
    if (r.page === "share") return; // main.ts swaps to the public share page
    if (r.page === "admin" && this.session.claims.role !== "admin") {
      r = { page: "files", scope: { kind: "all" }, fileId: null };
      history.replaceState(null, "", "#/");
    }
    this.routeNow = r;
    const navKey = r.page === "admin" ? "admin" : r.page === "albums" ? "albums" : r.scope.kind === "all" ? "library" : r.scope.kind === "album" ? "albums" : r.scope.kind;
    Object.entries(this.navLinks).forEach(([k, a]) => {
      const on = k === navKey;
      a.classList.toggle("active", on);
      if (on) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    });
    this.syncAlbums();
    this.ctx.root.firstElementChild?.classList.toggle("route-admin", r.page === "admin");
    this.viewerUrl.routing = true;
    try {
      if (r.page !== "files") this.viewer.close();
      if (r.page === "admin") {
        document.title = "Admin · Mediagate";
        this.admin ??= new AdminPage(this.api);
        this.showMain(this.admin.el);
        this.admin.start();
        this.library.stopLive();
        return;
      }
      this.admin?.stop();
      if (r.page === "albums") {
        document.title = "Albums · Mediagate";
        this.albumsPage?.dispose?.();
        this.albumsPage = renderAlbumsPage(this.albums, () => void this.createAlbum());
        this.showMain(this.albumsPage);
        void this.albums.refresh();
        return;
      }
      if (!this.main.contains(this.libraryView)) {
        this.showMain(this.libraryView);
        this.library.startLive();
        this.grid.schedule();
      }
      this.setScope(r.scope);
      if (r.fileId) void this.openRouted(r.fileId);
      else this.viewer.close();
    } finally {
      this.viewerUrl.routing = false;
    }
  }

  private showMain(el: HTMLElement): void {
    if (this.main.firstElementChild === el) return;
    if (this.albumsPage && el !== this.albumsPage) {
      this.albumsPage.dispose?.();
      this.albumsPage = null;
    }
    this.main.replaceChildren(el);
  }

  private navigate(route: Route): void {
    const target = formatRoute(route);
    if (location.hash !== target) location.hash = target;
    else this.route();
  }

  private setScope(scope: Scope): void {
    const changed = !sameScope(scope, this.scope);
    this.scope = scope;
    this.renderPageHead();
    document.title = `${this.scopeTitle()} · Mediagate`;
    this.libraryView.dataset.scope = scope.kind;
    if (!changed && (this.library.loadedOnce || this.library.loading)) return;
    this.selection.clear();
    this.grid.resetScroll();
    this.library.setFilters(scopeQuery(scope));
    this.syncSelection();
  }

  private scopeTitle(): string {
    switch (this.scope.kind) {
      case "all":
        return "Library";
      case "favourites":
        return "Favourites";
      case "trash":
        return "Trash";
      case "album":
        return this.albums.get(this.scope.albumId)?.name ?? "Album";
    }
  }

  private emptyText(): { title: string; text: string } | null {
    switch (this.scope.kind) {
      case "favourites":
        return { title: "No favourites yet", text: "Star a file (its ☆, the viewer's star, or F) to find it here." };
      case "trash":
        return { title: "The trash is empty", text: "Files you delete wait here and can be restored until they are purged." };
      case "album":
        return { title: "This album is empty", text: "Select files in the library, then “Add to album”." };
      default:
        return null;
    }
  }

  /** A file from the URL (deep link, reload, Back/Forward): known, or fetched by id. */
  private async openRouted(id: string): Promise<void> {
    if (this.viewer.isOpen && this.viewer.current === id) return;
    let item = this.library.get(id);
    if (!item) {
      try {
        item = await this.api.getFile(id);
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) {
          toast("That file is not there any more.", "error");
          history.replaceState(null, "", formatRoute({ page: "files", scope: this.scope, fileId: null }));
        }
        return;
      }
      const now = parseRoute(location.hash);
      if (now.page !== "files" || now.fileId !== id) return; // the user moved on meanwhile
      this.library.adopt(item);
    }
    this.viewerUrl.routing = true;
    try {
      this.viewer.open(id);
    } finally {
      this.viewerUrl.routing = false;
    }
  }

  /** A click or Enter on a tile. */
  private openFile(id: string): void {
    if (!this.viewer.isOpen) this.viewerUrl.willOpen();
    this.viewer.open(id);
  }

  private renderPageHead(): void {
    const s = this.scope;
    const title = h("h1", { class: "page-title" }, this.scopeTitle());
    const actions: HTMLElement[] = [];
    if (s.kind === "album") {
      const id = s.albumId;
      const album = this.albums.get(id);
      if (!album && this.albums.loaded) void this.api.getAlbum(id).then((a) => this.albums.put(a)).catch(() => undefined);
      actions.push(
        h("button", { class: "btn btn-secondary btn-sm", type: "button", "data-action": "share-album", onclick: () => void this.shareAlbum(id) }, icon(icons.share, "icon icon-sm"), "Share"),
        h("button", { class: "btn btn-ghost btn-sm", type: "button", "data-action": "rename-album", onclick: () => void this.renameAlbum(id) }, icon(icons.edit, "icon icon-sm"), "Rename"),
        h("button", { class: "btn btn-danger-ghost btn-sm", type: "button", "data-action": "delete-album", onclick: () => void this.deleteAlbum(id) }, icon(icons.trash, "icon icon-sm"), "Delete album"),
      );
      if (album) title.append(h("span", { class: "muted page-sub" }, ` · ${pluralize(album.file_count, "file")}`));
    } else if (s.kind === "trash") {
      actions.push(
        h("span", { class: "muted small" }, "Files in the trash are purged for good after the retention period (30 days by default)."),
        h("button", { class: "btn btn-danger-ghost btn-sm", type: "button", "data-action": "empty-trash", onclick: () => void this.emptyTrash() }, icon(icons.trash, "icon icon-sm"), "Empty trash"),
      );
    }
    this.pageHead.replaceChildren(title, h("span", { class: "spacer" }), ...actions);
  }

  private syncAlbums(): void {
    const current = this.routeNow.page === "files" && this.routeNow.scope.kind === "album" ? this.routeNow.scope.albumId : null;
    this.sidebarAlbums.replaceChildren(
      ...this.albums.items.slice(0, 50).map((a) =>
        h(
          "li",
          {},
          h(
            "a",
            { href: `#/albums/${encodeURIComponent(a.id)}`, class: `side-album${a.id === current ? " active" : ""}`, "aria-current": a.id === current ? "page" : false, "data-album": a.id },
            h("span", { class: "side-album-name" }, a.name),
            h("span", { class: "muted small" }, String(a.file_count)),
          ),
        ),
      ),
    );
    if (this.scope.kind === "album" && this.main.contains(this.libraryView)) {
      const name = this.scopeTitle();
      const t = this.pageHead.querySelector(".page-title");
      if (t && !t.textContent?.startsWith(name)) this.renderPageHead();
      document.title = `${name} · Mediagate`;
    }
  }

  // ---------------------------------------------------------------- sort & filters

  private applyFilters(f: Partial<ListQuery>): void {
    this.selection.clear();
    this.grid.resetScroll();
    this.library.setFilters(f);
  }

  private savePrefs(): void {
    try {
      localStorage.setItem(PREFS_KEY, JSON.stringify({ sort: this.library.filters.sort, order: this.library.filters.order, grouping: this.grouping }));
    } catch {
      /* private mode */
    }
  }

  private setSort(sort: SortKey): void {
    if (sort !== "taken") this.grouping = "none";
    this.applyFilters({ sort });
    this.syncSortControls();
    this.savePrefs();
  }

  private setOrder(order: "asc" | "desc"): void {
    this.applyFilters({ order });
    this.syncSortControls();
    this.savePrefs();
  }

  /** Grouping is by date taken, so it sorts by date taken. */
  private setGrouping(g: Grouping): void {
    this.grouping = g;
    if (g !== "none" && this.library.filters.sort !== "taken") this.applyFilters({ sort: "taken" });
    this.syncSortControls();
    this.savePrefs();
    this.grid.schedule();
  }

  private syncSortControls(): void {
    const f = this.library.filters;
    this.sortSelect.value = f.sort;
    this.groupSelect.value = this.grouping;
    const asc = f.order === "asc";
    const label = asc ? "Ascending (oldest, smallest or A first): switch to descending" : "Descending (newest, largest or Z first): switch to ascending";
    this.orderBtn.replaceChildren(icon(asc ? icons.sortAsc : icons.sortDesc));
    this.orderBtn.setAttribute("aria-label", label);
    this.orderBtn.title = asc ? "Ascending" : "Descending";
    this.orderBtn.dataset.order = f.order;
  }

  private buildFilters(): HTMLDetailsElement {
    const make = h("select", { class: "select", name: "camera_make" }, h("option", { value: "" }, "Any make")) as HTMLSelectElement;
    const model = h("select", { class: "select", name: "camera_model" }, h("option", { value: "" }, "Any model")) as HTMLSelectElement;
    const lens = h("select", { class: "select", name: "lens" }, h("option", { value: "" }, "Any lens")) as HTMLSelectElement;
    const from = h("input", { class: "input", type: "date", name: "taken_from" }) as HTMLInputElement;
    const to = h("input", { class: "input", type: "date", name: "taken_to" }) as HTMLInputElement;
    const fav = h("input", { type: "checkbox", name: "favourite" }) as HTMLInputElement;
    const summary = h("summary", { class: "btn btn-ghost btn-sm" }, icon(icons.filter, "icon icon-sm"), h("span", { class: "label" }, "Filters"), h("span", { class: "filter-count" }));
    const fill = (sel: HTMLSelectElement, values: string[], anyLabel: string) => {
      const cur = sel.value;
      sel.replaceChildren(h("option", { value: "" }, anyLabel), ...values.map((v) => h("option", { value: v }, v)));
      sel.value = values.includes(cur) ? cur : "";
    };
    const apply = () => {
      const next: Partial<ListQuery> = {
        camera_make: make.value,
        camera_model: model.value,
        lens: lens.value,
        taken_from: from.value,
        taken_to: to.value,
      };
      if (this.scope.kind === "all" || this.scope.kind === "favourites") next.favourite = fav.checked || this.scope.kind === "favourites";
      this.applyFilters(next);
      const n = [make.value, model.value, lens.value, from.value, to.value].filter(Boolean).length + (fav.checked ? 1 : 0);
      summary.querySelector(".filter-count")!.textContent = n ? ` · ${n}` : "";
    };
    for (const el of [make, model, lens, from, to, fav]) el.addEventListener("change", apply);
    const panel = h(
      "details",
      { class: "filters" },
      summary,
      h(
        "div",
        { class: "filters-pop", role: "group", "aria-label": "Filters" },
        h("label", { class: "check-field" }, fav, h("span", {}, "Favourites only")),
        h("label", { class: "field" }, h("span", {}, "Camera make"), make),
        h("label", { class: "field" }, h("span", {}, "Camera model"), model),
        h("label", { class: "field" }, h("span", {}, "Lens"), lens),
        h("div", { class: "field-row" }, h("label", { class: "field" }, h("span", {}, "Taken from"), from), h("label", { class: "field" }, h("span", {}, "Taken until"), to)),
        h(
          "button",
          {
            class: "btn btn-ghost btn-sm",
            type: "button",
            onclick: () => {
              make.value = model.value = lens.value = from.value = to.value = "";
              fav.checked = false;
              apply();
            },
          },
          "Clear filters",
        ),
      ),
    ) as HTMLDetailsElement;
    panel.addEventListener("toggle", () => {
      if (!panel.open || this.facets) return;
      void this.api
        .facets()
        .then((f) => {
          this.facets = f;
          fill(make, f.camera_makes, "Any make");
          fill(model, f.camera_models, "Any model");
          fill(lens, f.lenses, "Any lens");
        })
        .catch(() => undefined);
    });
    panel.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && panel.open) {
        e.stopPropagation();
        panel.open = false;
        summary.focus();
      }
    });
    return panel;
  }

  // ---------------------------------------------------------------- counts & selection

  private syncCount(): void {
    const lib = this.library;
    const n = lib.items.length;
    const filtered = isFiltered(lib.filters);
    if (!lib.loadedOnce) this.countEl.textContent = lib.loading ? "Loading…" : "";
    else this.countEl.textContent = `${formatCount(n)}${lib.hasMore ? "+" : ""} ${filtered ? (n === 1 && !lib.hasMore ? "match" : "matches") : n === 1 && !lib.hasMore ? "file" : "files"}`;
    if (this.selection.size) this.selection.retain(new Set(lib.fileIds()));
  }

  private selectionButtons(n: number): HTMLElement[] {
    const ids = () => this.selection.ordered(this.library.fileIds());
    const btn = (action: string, label: string, svg: string, run: () => void, cls = "btn btn-secondary") =>
      h("button", { class: cls, type: "button", "data-action": action, onclick: run }, icon(svg), h("span", { class: "label" }, label));
    if (this.scope.kind === "trash") {
      return [
        btn("restore", "Restore", icons.restore, () => void this.restoreFiles(ids())),
        btn("purge", "Delete forever", icons.trash, () => void this.purgeFiles(ids()), "btn btn-danger-ghost"),
      ];
    }
    const out = [btn("add-to-album", "Add to album", icons.album, () => void this.addToAlbum(ids()))];
    if (this.scope.kind === "album") {
      const albumId = this.scope.albumId;
      out.push(btn("remove-from-album", "Remove from album", icons.close, () => void this.removeFromAlbum(albumId, ids())));
      if (n === 1) out.push(btn("set-cover", "Set as cover", icons.image, () => void this.setCover(albumId, ids()[0]), "btn btn-ghost"));
    }
    if (n === 1) out.push(btn("share", "Share", icons.share, () => void this.shareFile(ids()[0]), "btn btn-ghost"));
    out.push(
      btn("zip", "Download ZIP", icons.download, () => void this.downloadSelection()),
      btn("delete", "Move to trash", icons.trash, () => void this.trashFiles(ids()), "btn btn-danger-ghost"),
    );
    return out;
  }

  private syncSelection(): void {
    const n = this.selection.size;
    this.selectionBar.hidden = n === 0;
    this.libraryView.classList.toggle("has-selection", n > 0);
    if (n) {
      const ids = this.selection.ids();
      const bytes = ids.reduce((sum, id) => sum + (this.library.get(id)?.size ?? 0), 0);
      this.selectionCount.textContent = `${pluralize(n, "file")} selected · ${formatBytes(bytes)}`;
      const key = `${formatRoute({ page: "files", scope: this.scope, fileId: null })}|${n === 1}`;
      if (this.selectionActions.dataset.key !== key) {
        this.selectionActions.dataset.key = key;
        this.selectionActions.replaceChildren(...this.selectionButtons(n));
      }
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

  // ---------------------------------------------------------------- trash

  private async refetch(ids: string[]): Promise<void> {
    if (ids.length > 60) return this.library.reload();
    const results = await Promise.allSettled(ids.map((id) => this.api.getFile(id)));
    for (const r of results) if (r.status === "fulfilled") this.library.upsert(r.value, true);
  }

  /** Delete = move to the trash, at once, with an Undo in the toast. */
  private async trashFiles(ids: string[]): Promise<boolean> {
    if (!ids.length) return false;
    const focused = this.grid.focusedId();
    const index = this.grid.indexOf(focused ?? "");
    try {
      await this.api.trashFiles(ids);
    } catch (err) {
      toast(`Could not move to the trash: ${(err as Error).message}`, "error");
      return false;
    }
    const first = this.library.get(ids[0]);
    this.library.remove(ids);
    this.selection.remove(ids);
    toast(ids.length === 1 ? `“${first?.name ?? "File"}” moved to the trash` : `${pluralize(ids.length, "file")} moved to the trash`, "success", {
      timeout: 10_000,
      action: { label: "Undo", run: () => void this.undoTrash(ids) },
    });
    if (!this.viewer.isOpen) this.grid.focusAt(Math.max(0, Math.min(index, this.library.items.length - 1)));
    return true;
  }

  private async undoTrash(ids: string[]): Promise<void> {
    try {
      await this.api.restoreFiles(ids);
      await this.refetch(ids);
      toast(`${pluralize(ids.length, "file")} restored`, "success");
    } catch (err) {
      toast(`Could not restore: ${(err as Error).message}`, "error");
    }
  }

  private async restoreFiles(ids: string[]): Promise<void> {
    if (!ids.length) return;
    try {
      const n = await this.api.restoreFiles(ids);
      this.library.remove(ids);
      this.selection.remove(ids);
      toast(`${pluralize(n, "file")} restored to the library`, "success");
    } catch (err) {
      toast(`Could not restore: ${(err as Error).message}`, "error");
    }
  }

  private async purgeFiles(ids: string[]): Promise<boolean> {
    if (!ids.length) return false;
    const first = this.library.get(ids[0]);
    const ok = await confirmDialog({
      title: ids.length === 1 ? `Delete “${first?.name ?? "this file"}” forever?` : `Delete ${formatCount(ids.length)} files forever?`,
      body: `The original${ids.length === 1 ? "" : "s"} and all previews (${formatBytes(ids.reduce((s, id) => s + (this.library.get(id)?.size ?? 0), 0))}) are removed for good. This can't be undone.`,
      confirm: ids.length === 1 ? "Delete forever" : `Delete ${formatCount(ids.length)} forever`,
      danger: true,
    });
    if (!ok) return false;
    try {
      const n = await this.api.purgeFiles(ids);
      this.library.remove(ids);
      this.selection.remove(ids);
      toast(`${pluralize(n, "file")} deleted for good`, "success");
      return true;
    } catch (err) {
      toast(`Delete failed: ${(err as Error).message}`, "error");
      return false;
    }
  }

  private async emptyTrash(): Promise<void> {
    const ok = await confirmDialog({
      title: "Empty the trash?",
      body: "Every file in the trash and all its previews are removed for good. This can't be undone.",
      confirm: "Empty trash",
      danger: true,
    });
    if (!ok) return;
    try {
      const n = await this.api.emptyTrash();
      this.selection.clear();
      await this.library.reload();
      toast(`${pluralize(n, "file")} deleted for good`, "success");
    } catch (err) {
      toast(`Could not empty the trash: ${(err as Error).message}`, "error");
    }
  }

  // ---------------------------------------------------------------- rename & favourites

  private async rename(id: string, name: string): Promise<void> {
    try {
      this.library.patch(await this.api.patchFile(id, { filename: name }));
      toast(`Renamed to “${name}”`, "success");
    } catch (err) {
      toast(`Could not rename: ${(err as Error).message}`, "error");
      throw err;
    }
  }

  private async toggleFavourite(id: string): Promise<void> {
    const item = this.library.get(id);
    if (!item) return;
    const next = !item.favourite;
    try {
      const updated = await this.api.patchFile(id, { favourite: next });
      this.library.patch(updated);
      // un-starred in Favourites: it leaves the list but stays open in the viewer
      if (this.viewer.isOpen && this.viewer.current === id && !this.library.get(id)) this.library.adopt(updated);
    } catch (err) {
      toast(`Could not update favourites: ${(err as Error).message}`, "error");
    }
  }

  // ---------------------------------------------------------------- albums

  private async createAlbum(ids: string[] = []): Promise<void> {
    const name = await promptName({ title: "New album", label: "Album name", confirm: "Create album" });
    if (!name) return;
    try {
      const album = await this.api.createAlbum(name);
      if (ids.length) await this.api.addToAlbum(album.id, ids);
      this.albums.put(album);
      void this.albums.refresh();
      this.navigate({ page: "files", scope: { kind: "album", albumId: album.id }, fileId: null });
    } catch (err) {
      toast(`Could not create the album: ${(err as Error).message}`, "error");
    }
  }

  private async addToAlbum(ids: string[]): Promise<void> {
    if (!ids.length) return;
    const album = await pickAlbum(this.api, ids.length);
    if (!album) return;
    try {
      const n = await this.api.addToAlbum(album.id, ids);
      this.selection.clear();
      void this.albums.refresh();
      toast(`${pluralize(n || ids.length, "file")} added to “${album.name}”`, "success", {
        action: { label: "Open album", run: () => this.navigate({ page: "files", scope: { kind: "album", albumId: album.id }, fileId: null }) },
      });
    } catch (err) {
      toast(`Could not add to the album: ${(err as Error).message}`, "error");
    }
  }

  private async removeFromAlbum(albumId: string, ids: string[]): Promise<void> {
    try {
      const n = await this.api.removeFromAlbum(albumId, ids);
      this.library.remove(ids);
      this.selection.remove(ids);
      void this.albums.refresh();
      toast(`${pluralize(n, "file")} removed from the album (still in the library)`, "success");
    } catch (err) {
      toast(`Could not remove: ${(err as Error).message}`, "error");
    }
  }

  private async setCover(albumId: string, fileId: string): Promise<void> {
    try {
      this.albums.put(await this.api.patchAlbum(albumId, { cover_file_id: fileId }));
      toast("Album cover set", "success");
    } catch (err) {
      toast(`Could not set the cover: ${(err as Error).message}`, "error");
    }
  }

  private async renameAlbum(albumId: string): Promise<void> {
    const album = this.albums.get(albumId);
    const name = await promptName({ title: "Rename album", label: "Album name", value: album?.name ?? "", confirm: "Rename" });
    if (!name) return;
    try {
      this.albums.put(await this.api.patchAlbum(albumId, { name }));
      this.renderPageHead();
    } catch (err) {
      toast(`Could not rename the album: ${(err as Error).message}`, "error");
    }
  }

  private async deleteAlbum(albumId: string): Promise<void> {
    const album = this.albums.get(albumId);
    const ok = await confirmDialog({
      title: `Delete the album “${album?.name ?? "album"}”?`,
      body: "The album and its share links go away; its files stay in your library.",
      confirm: "Delete album",
      danger: true,
    });
    if (!ok) return;
    try {
      await this.api.deleteAlbum(albumId);
      this.albums.drop(albumId);
      this.navigate({ page: "albums" });
      toast("Album deleted (its files are still in the library)", "success");
    } catch (err) {
      toast(`Could not delete the album: ${(err as Error).message}`, "error");
    }
  }

  // ---------------------------------------------------------------- sharing

  private async shareFile(id: string): Promise<void> {
    const item = this.library.get(id);
    await shareDialog(this.api, { file_id: id }, item?.name ?? "file");
  }

  private async shareAlbum(albumId: string): Promise<void> {
    await shareDialog(this.api, { album_id: albumId }, this.albums.get(albumId)?.name ?? "album");
  }

  // ---------------------------------------------------------------- keys & session

  private globalKey(e: KeyboardEvent): void {
    if (this.viewer.isOpen || this.uploader.isOpen() || document.querySelector("dialog[open]")) return;
    if (e.key === "?" && !isTypingTarget(e.target)) {
      e.preventDefault();
      shortcutsDialog(isMac ? "⌘" : "Ctrl");
      return;
    }
    if (isTypingTarget(e.target)) return;
    const mod = isMac ? e.metaKey : e.ctrlKey;
    const inGrid = this.grid.containsFocus();
    const onFiles = this.main.contains(this.libraryView);
    if (e.key === "/" && !mod) {
      e.preventDefault();
      this.search.focus();
      this.search.select();
    } else if ((e.key === "u" || e.key === "U") && !mod && !e.altKey) {
      e.preventDefault();
      this.uploader.open();
    } else if (!inGrid && onFiles && mod && (e.key === "a" || e.key === "A")) {
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
