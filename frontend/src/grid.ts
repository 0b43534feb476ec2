/**
 * The library grid: virtualised rows (only what is on screen is in the DOM, so 10,000+
 * files scroll smoothly), the WAI-ARIA grid pattern with a roving tabindex, selection
 * by pointer and keyboard, lazy thumbnails over ThumbHash placeholders.
 */

import { h, icon, isMac, isTypingTarget } from "./dom";
import { extensionLabel, formatBytes, formatDimensions, formatDuration } from "./format";
import { icons } from "./icons";
import { computeMetrics, COMPACT_LAYOUT, DEFAULT_LAYOUT, moveIndex, rowCount, visibleRows, type GridMetrics } from "./layout";
import type { Entry, Library, UploadTile } from "./library";
import { placeholderColor, placeholderUrl } from "./placeholder";
import type { Selection } from "./selection";
import type { FileItem } from "./types";

export interface GridCallbacks {
  open(id: string): void;
  /** A press on a file (before any double-click or Enter): the viewer may start fetching. */
  warm?(id: string): void;
  requestDelete(ids: string[]): void;
  selectAll(): void;
  refreshItem(id: string): void;
  emptyAction(): void;
}

interface CellState {
  el: HTMLElement;
  sig: string;
  img?: HTMLImageElement;
}


export function statusText(item: FileItem): string {
  if (item.processing_status === "processing") return `Processing ${Math.round(item.progress || 0)}%`;
  if (item.processing_status === "failed") return "Failed";
  if (item.processing_status === "pending") return "Queued";
  return "";
}

export function describe(item: FileItem): string {
  const parts = [item.name, item.type === "other" ? extensionLabel(item.name) + " file" : item.type, formatBytes(item.size)];
  if (item.type === "video" && item.duration) parts.push(formatDuration(item.duration));
  const dims = formatDimensions(item.width, item.height);
  if (dims) parts.push(dims);
  const status = statusText(item);
  if (status) parts.push(status);
  if (item.processing_status === "failed" && item.error) parts.push(item.error);
  return parts.join(", ");
}

export class FileGrid {
  readonly root: HTMLElement;
  readonly grid: HTMLElement;
  private readonly empty: HTMLElement;
  private readonly footer: HTMLElement;
  private metrics: GridMetrics = computeMetrics(1000);
  private focusIndex = 0;
  private rows = new Map<number, HTMLElement>();
  private cells = new Map<string, CellState>();
  private frame = 0;
  private lastPointer = "mouse";
  private longPress: ReturnType<typeof setTimeout> | null = null;
  private longPressed = false;
  private refreshed = new Map<string, number>(); // id → when a fresh thumbnail URL was asked for
  private resizeObserver: ResizeObserver;

  constructor(
    private readonly library: Library,
    private readonly selection: Selection,
    private readonly cb: GridCallbacks,
  ) {
    this.grid = h("div", {
      class: "grid",
      role: "grid",
      "aria-label": "Files",
      "aria-multiselectable": "true",
      "aria-describedby": "grid-help",
    });
    this.empty = h("div", { class: "grid-empty", hidden: true });
    this.footer = h("div", { class: "grid-footer", "aria-live": "polite" });
    const help = h(
      "p",
      { id: "grid-help", class: "sr-only" },
      `Arrow keys move between files. Enter opens. Space selects. Shift with arrows extends the selection. ${isMac ? "Command" : "Control"}+A selects all. Delete removes the selection.`,
    );
    this.root = h("div", { class: "grid-scroll" }, help, this.grid, this.empty, this.footer);
    this.root.addEventListener("scroll", () => this.schedule(), { passive: true });
    this.resizeObserver = new ResizeObserver(() => this.schedule());
    this.resizeObserver.observe(this.root);
    this.grid.addEventListener("keydown", (e) => this.onKey(e));
    this.grid.addEventListener("click", (e) => this.onClick(e));
    this.grid.addEventListener("dblclick", (e) => this.onDblClick(e));
    this.grid.addEventListener("pointerdown", (e) => this.onPointerDown(e));
    this.grid.addEventListener("pointerup", () => this.cancelLongPress());
    this.grid.addEventListener("pointercancel", () => this.cancelLongPress());
    this.grid.addEventListener("pointermove", (e) => {
      if (this.longPress && e.pointerType === "touch" && (Math.abs(e.movementX) > 4 || Math.abs(e.movementY) > 4)) this.cancelLongPress();
    });
    this.grid.addEventListener("contextmenu", (e) => {
      if (this.lastPointer === "touch") e.preventDefault();
    });
    this.grid.addEventListener("focusin", (e) => {
      const cell = (e.target as HTMLElement).closest<HTMLElement>("[role=gridcell]");
      if (cell?.dataset.index) {
        const i = Number(cell.dataset.index);
        if (i !== this.focusIndex) {
          this.focusIndex = i;
          this.schedule();
        }
      }
    });
    library.onChange(() => this.schedule());
    selection.onChange(() => this.schedule());
  }

  destroy(): void {
    this.resizeObserver.disconnect();
    cancelAnimationFrame(this.frame);
  }

  schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  private entries(): Entry[] {
    return this.library.entries();
  }

  indexOf(id: string): number {
    return this.entries().findIndex((e) => e.id === id);
  }

  private fileOrder(): string[] {
    return this.library.fileIds();
  }

  private layoutFor(width: number) {
    return width < 560 ? COMPACT_LAYOUT : DEFAULT_LAYOUT;
  }

  render(): void {
    const entries = this.entries();
    const width = this.grid.clientWidth || this.root.clientWidth - 32;
    this.metrics = computeMetrics(width, this.layoutFor(width));
    const { columns, rowHeight } = this.metrics;
    const total = rowCount(entries.length, columns);
    if (this.focusIndex >= entries.length) this.focusIndex = Math.max(0, entries.length - 1);

    const lib = this.library;
    const skeleton = !lib.loadedOnce && lib.loading;
    this.grid.style.setProperty("--cols", String(columns));
    this.grid.style.setProperty("--row-h", `${rowHeight - this.metrics.gap}px`);
    this.grid.setAttribute("aria-colcount", String(columns));
    this.grid.setAttribute("aria-rowcount", lib.hasMore ? "-1" : String(total));
    this.grid.setAttribute("aria-busy", lib.loading ? "true" : "false");

    if (skeleton) {
      this.renderSkeleton(columns, rowHeight);
      this.renderEmpty(false);
      this.footer.textContent = "";
      return;
    }
    if (this.grid.classList.contains("skeleton")) {
      this.grid.classList.remove("skeleton");
      this.grid.replaceChildren();
    }
    this.renderEmpty(lib.loadedOnce && entries.length === 0 && !lib.error);
    this.grid.style.height = `${total * rowHeight}px`;

    const top = this.grid.offsetTop;
    const range = visibleRows(this.root.scrollTop - top, this.root.clientHeight, rowHeight, total, 3);
    const wanted = new Set<number>();
    for (let r = range.start; r < range.end; r++) wanted.add(r);
    if (entries.length) wanted.add(Math.floor(this.focusIndex / columns)); // the roving tab stop stays in the DOM

    for (const [r, el] of this.rows) {
      if (!wanted.has(r) || r >= total) {
        el.remove();
        this.rows.delete(r);
      }
    }
    const liveIds = new Set<string>();
    for (const r of [...wanted].sort((a, b) => a - b)) {
      if (r >= total) continue;
      let rowEl = this.rows.get(r);
      if (!rowEl) {
        rowEl = h("div", { class: "grid-row", role: "row" });
        this.rows.set(r, rowEl);
        this.insertRow(r, rowEl);
      }
      rowEl.setAttribute("aria-rowindex", String(r + 1));
      rowEl.style.transform = `translateY(${r * rowHeight}px)`;
      const cells: HTMLElement[] = [];
      for (let c = 0; c < columns; c++) {
        const i = r * columns + c;
        if (i >= entries.length) break;
        const entry = entries[i];
        liveIds.add(entry.id);
        cells.push(this.cell(entry, i, c));
      }
      const current = [...rowEl.children];
      if (current.length !== cells.length || current.some((el, k) => el !== cells[k])) rowEl.replaceChildren(...cells);
    }
    for (const id of this.cells.keys()) if (!liveIds.has(id)) this.cells.delete(id);

    if (lib.error) {
      this.footer.replaceChildren(
        h("span", { class: "error-text" }, `Could not load files: ${lib.error}`),
        h("button", { class: "btn btn-ghost", type: "button", onclick: () => void lib.loadMore() }, "Try again"),
      );
    } else if (lib.loading) {
      this.footer.replaceChildren(icon(icons.spinner), h("span", {}, "Loading more files…"));
    } else if (!lib.hasMore && entries.length > 40) {
      this.footer.replaceChildren(h("span", { class: "muted" }, `End of library · ${entries.length.toLocaleString("en-US")} files`));
    } else {
      this.footer.textContent = "";
    }
    if (range.end >= total - 4 && lib.hasMore && !lib.loading && !lib.error) void lib.loadMore();
  }

  private insertRow(r: number, el: HTMLElement): void {
    // Keep DOM order = row order (screen readers and Tab order follow it).
    let before: HTMLElement | null = null;
    for (const [k, other] of this.rows) {
      if (k > r && other !== el && other.parentNode && (!before || Number(before.dataset.row) > k)) before = other;
    }
    el.dataset.row = String(r);
    this.grid.insertBefore(el, before);
  }

  private renderSkeleton(columns: number, rowHeight: number): void {
    this.rows.forEach((el) => el.remove());
    this.rows.clear();
    this.cells.clear();
    this.grid.classList.add("skeleton");
    const count = columns * 3;
    const rows: HTMLElement[] = [];
    for (let r = 0; r < 3; r++) {
      const row = h("div", { class: "grid-row", role: "row", "aria-hidden": "true" });
      row.style.transform = `translateY(${r * rowHeight}px)`;
      for (let c = 0; c < columns && r * columns + c < count; c++) {
        row.append(h("div", { class: "cell" }, h("div", { class: "card skeleton-card" }, h("div", { class: "thumb" }), h("div", { class: "info" }, h("i"), h("i")))));
      }
      rows.push(row);
    }
    this.grid.style.height = `${3 * rowHeight}px`;
    this.grid.replaceChildren(...rows);
  }

  private renderEmpty(show: boolean): void {
    this.empty.hidden = !show;
    if (!show) return;
    const f = this.library.filters;
    const filtered = !!(f.q || f.type || f.status);
    this.empty.replaceChildren(
      filtered
        ? h(
            "div",
            { class: "empty-card" },
            icon(icons.search, "icon empty-icon"),
            h("h2", {}, "No files match"),
            h("p", {}, f.q ? `Nothing named like “${f.q}” with these filters.` : "No files with these filters."),
          )
        : h(
            "div",
            { class: "empty-card dropzone-hint" },
            icon(icons.cloud, "icon empty-icon"),
            h("h2", {}, "Your library is empty"),
            h("p", {}, "Drop videos, photos (RAW and LOG too) or any file anywhere on this page. Uploads resume if the connection drops."),
            h("button", { class: "btn btn-primary", type: "button", onclick: () => this.cb.emptyAction() }, icon(icons.upload), "Upload files"),
          ),
    );
  }

  private cell(entry: Entry, index: number, col: number): HTMLElement {
    const selected = entry.kind === "file" && this.selection.has(entry.id);
    const focus = index === this.focusIndex;
    const sig =
      entry.kind === "file"
        ? `${entry.item.updated_at}|${entry.item.processing_status}|${entry.item.progress}|${entry.item.thumbnail_url ?? entry.item.local_thumbnail ?? ""}|${entry.item.playable ? 1 : 0}|${entry.item.name}`
        : `${entry.upload.state}|${Math.round(entry.upload.progress)}|${entry.upload.error ?? ""}|${entry.upload.preview ?? ""}`;
    const full = `${sig}|${selected}|${focus}|${index}|${col}`;
    let state = this.cells.get(entry.id);
    if (state && state.sig === full) return state.el;
    if (!state || state.sig.split("|").slice(0, -4).join("|") !== sig) {
      const fresh: { el: HTMLElement; img?: HTMLImageElement } = entry.kind === "file" ? this.fileCell(entry.item) : this.uploadCell(entry.upload);
      state = { el: fresh.el, img: fresh.img, sig: full };
      this.cells.set(entry.id, state);
    }
    state.sig = full;
    const el = state.el;
    el.dataset.index = String(index);
    el.setAttribute("aria-colindex", String(col + 1));
    el.tabIndex = focus ? 0 : -1;
    if (entry.kind === "file") el.setAttribute("aria-selected", String(selected));
    el.classList.toggle("selected", selected);
    return el;
  }

  private fileCell(item: FileItem): { el: HTMLElement; img?: HTMLImageElement } {
    const ph = placeholderUrl(item.placeholder);
    const thumb = h("div", { class: `thumb type-${item.type}` });
    const color = placeholderColor(item.placeholder);
    if (ph) thumb.style.backgroundImage = `url("${ph}")`;
    if (color) thumb.style.backgroundColor = color;
    let img: HTMLImageElement | undefined;
    if (item.thumbnail_url) {
      img = h("img", { alt: "", loading: "lazy", decoding: "async", draggable: false }) as HTMLImageElement;
      img.addEventListener("load", () => img!.classList.add("loaded"));
      img.addEventListener("error", () => {
        img!.remove();
        const last = this.refreshed.get(item.id) ?? 0;
        if (Date.now() - last > 5 * 60_000) {
          this.refreshed.set(item.id, Date.now()); // signed URLs expire: fetch a fresh one (at most every 5 min)
          this.cb.refreshItem(item.id);
        }
      });
      img.src = item.thumbnail_url;
      thumb.append(img);
    } else if (item.local_thumbnail) {
      // the upload's own thumbnail (made in this tab) until the server's arrives
      img = h("img", { alt: "", src: item.local_thumbnail, class: "loaded local", draggable: false }) as HTMLImageElement;
      thumb.append(img);
    } else if (!ph) {
      thumb.append(
        h("div", { class: "thumb-fallback" }, icon(item.type === "video" ? icons.video : item.type === "image" ? icons.image : icons.file), h("span", {}, extensionLabel(item.name))),
      );
    }
    if (item.type === "video") {
      thumb.append(h("span", { class: "chip chip-video" }, icon(icons.play, "icon icon-xs"), item.duration ? formatDuration(item.duration) : "Video"));
    } else if (item.type === "other" && item.thumbnail_url == null && ph) {
      thumb.append(h("span", { class: "chip" }, extensionLabel(item.name)));
    }
    const status = item.processing_status;
    if (status === "processing" || status === "pending") {
      const pct = Math.round(item.progress || 0);
      thumb.append(
        h("span", { class: `badge badge-${status}` }, icon(icons.spinner, "icon icon-xs"), status === "processing" ? (item.playable ? `Playable · ${pct}%` : `Processing ${pct}%`) : "Queued"),
        h("div", { class: "thumb-progress", role: "presentation" }, h("i", { style: { width: `${status === "processing" ? Math.max(3, pct) : 0}%` } })),
      );
    } else if (status === "failed") {
      thumb.append(h("span", { class: "badge badge-failed" }, icon(icons.alert, "icon icon-xs"), "Failed"));
    }
    thumb.append(h("span", { class: "check", "aria-hidden": "true", "data-check": "1" }, icon(icons.check, "icon icon-xs")));
    const metaParts = [formatBytes(item.size)];
    const dims = formatDimensions(item.width, item.height);
    if (dims) metaParts.push(dims);
    const info = h(
      "div",
      { class: "info" },
      h("div", { class: "name", title: item.name }, item.name),
      status === "failed"
        ? h("div", { class: "meta meta-error", title: item.error ?? "" }, item.error || "Processing failed")
        : h("div", { class: "meta" }, metaParts.join(" · ")),
    );
    const el = h(
      "div",
      {
        class: `cell status-${status}`,
        role: "gridcell",
        "aria-label": describe(item),
        "data-id": item.id,
        "data-status": status,
        "data-type": item.type,
      },
      h("div", { class: "card" }, thumb, info),
    );
    return { el, img };
  }

  private uploadCell(up: UploadTile): { el: HTMLElement } {
    const pct = Math.round(up.progress);
    const label =
      up.state === "error"
        ? "Upload failed"
        : up.state === "paused"
          ? `Paused ${pct}%`
          : up.state === "queued"
            ? "Waiting"
            : up.state === "done"
              ? "Uploaded"
              : `Uploading ${pct}%`;
    const thumb = h(
      "div",
      { class: `thumb type-${up.type} uploading` },
      up.preview
        ? h("img", { alt: "", src: up.preview, class: "loaded", draggable: false })
        : h("div", { class: "thumb-fallback" }, icon(up.type === "video" ? icons.video : up.type === "image" ? icons.image : icons.file), h("span", {}, extensionLabel(up.name))),
      h("span", { class: `badge badge-${up.state === "error" ? "failed" : "uploading"}` }, up.state === "error" ? icon(icons.alert, "icon icon-xs") : icon(icons.upload, "icon icon-xs"), label),
      h("div", { class: "thumb-progress upload", role: "presentation" }, h("i", { style: { width: `${pct}%` } })),
    );
    const el = h(
      "div",
      { class: `cell status-uploading`, role: "gridcell", "aria-label": `${up.name}, ${label}`, "data-upload": up.key, "data-status": "uploading" },
      h(
        "div",
        { class: "card" },
        thumb,
        h(
          "div",
          { class: "info" },
          h("div", { class: "name", title: up.name }, up.name),
          up.state === "error"
            ? h("div", { class: "meta meta-error", title: up.error ?? "" }, up.error || "Upload failed")
            : h("div", { class: "meta" }, `${formatBytes((up.size * pct) / 100)} of ${formatBytes(up.size)}`),
        ),
      ),
    );
    return { el };
  }

  // ---- interaction ----

  private entryAt(target: EventTarget | null): { entry: Entry; index: number; cell: HTMLElement } | null {
    const cell = (target as HTMLElement | null)?.closest<HTMLElement>("[role=gridcell]");
    if (!cell?.dataset.index) return null;
    const index = Number(cell.dataset.index);
    const entry = this.entries()[index];
    return entry ? { entry, index, cell } : null;
  }

  private onPointerDown(e: PointerEvent): void {
    this.lastPointer = e.pointerType;
    this.longPressed = false;
    const hit = this.entryAt(e.target);
    if (hit?.entry.kind === "file") this.cb.warm?.(hit.entry.id);
    if (e.pointerType !== "touch") return;
    if (!hit || hit.entry.kind !== "file") return;
    this.longPress = setTimeout(() => {
      this.longPress = null;
      this.longPressed = true;
      this.selection.toggle(hit.entry.id);
      navigator.vibrate?.(15);
    }, 450);
  }

  private cancelLongPress(): void {
    if (this.longPress) clearTimeout(this.longPress);
    this.longPress = null;
  }

  private onClick(e: MouseEvent): void {
    const hit = this.entryAt(e.target);
    if (!hit) return;
    this.focusIndex = hit.index;
    if (this.longPressed) {
      this.longPressed = false;
      return;
    }
    if (hit.entry.kind !== "file") {
      this.schedule();
      return;
    }
    const id = hit.entry.id;
    const onCheck = !!(e.target as HTMLElement).closest("[data-check]");
    if (this.lastPointer === "touch" && !onCheck) {
      if (this.selection.size) this.selection.toggle(id);
      else this.cb.open(id);
    } else if (onCheck) {
      this.selection.toggle(id);
    } else {
      this.selection.click(this.fileOrder(), id, { shift: e.shiftKey, toggle: e.ctrlKey || e.metaKey });
    }
    hit.cell.focus({ preventScroll: true });
    this.schedule();
  }

  private onDblClick(e: MouseEvent): void {
    const hit = this.entryAt(e.target);
    if (hit?.entry.kind === "file" && !(e.target as HTMLElement).closest("[data-check]")) this.cb.open(hit.entry.id);
  }

  private pageRows(): number {
    return Math.max(1, Math.floor(this.root.clientHeight / this.metrics.rowHeight) - 1);
  }

  private onKey(e: KeyboardEvent): void {
    if (isTypingTarget(e.target)) return;
    const entries = this.entries();
    if (!entries.length) return;
    const mod = e.ctrlKey || e.metaKey;
    const current = entries[this.focusIndex];
    switch (e.key) {
      case "ArrowRight":
      case "ArrowLeft":
      case "ArrowDown":
      case "ArrowUp":
      case "Home":
      case "End":
      case "PageDown":
      case "PageUp": {
        e.preventDefault();
        const next = moveIndex(this.focusIndex, e.key, entries.length, this.metrics.columns, this.pageRows(), mod);
        const target = entries[next];
        if (e.shiftKey && target?.kind === "file") {
          if (!this.selection.anchor && current?.kind === "file") this.selection.anchor = current.id;
          this.selection.range(this.fileOrder(), target.id, mod);
        }
        this.focusAt(next);
        if (next >= entries.length - this.metrics.columns * 2) void this.library.loadMore();
        return;
      }
      case " ":
      case "Spacebar":
        e.preventDefault();
        if (current?.kind === "file") {
          if (e.shiftKey) this.selection.range(this.fileOrder(), current.id, true);
          else this.selection.toggle(current.id);
        }
        return;
      case "Enter":
        e.preventDefault();
        if (current?.kind === "file") this.cb.open(current.id);
        return;
      case "Escape":
        if (this.selection.size) {
          e.preventDefault();
          this.selection.clear();
        }
        return;
      case "Delete":
      case "Backspace": {
        e.preventDefault();
        const ids = this.selection.size ? this.selection.ordered(this.fileOrder()) : current?.kind === "file" ? [current.id] : [];
        if (ids.length) this.cb.requestDelete(ids);
        return;
      }
      default:
        if (mod && (e.key === "a" || e.key === "A")) {
          e.preventDefault();
          this.cb.selectAll();
        }
    }
  }

  /** Move the roving tab stop to entry `index`, scroll it into view and focus it. */
  focusAt(index: number, focus = true): void {
    const entries = this.entries();
    if (!entries.length) return;
    this.focusIndex = Math.max(0, Math.min(entries.length - 1, index));
    const { rowHeight } = this.metrics;
    const row = Math.floor(this.focusIndex / this.metrics.columns);
    const top = this.grid.offsetTop + row * rowHeight;
    const viewTop = this.root.scrollTop;
    const viewBottom = viewTop + this.root.clientHeight;
    if (top < viewTop + 8) this.root.scrollTop = Math.max(0, top - 8);
    else if (top + rowHeight > viewBottom) this.root.scrollTop = top + rowHeight - this.root.clientHeight + 8;
    this.render();
    if (focus) {
      const id = entries[this.focusIndex].id;
      this.cells.get(id)?.el.focus({ preventScroll: true });
    }
  }

  focusId(id: string): void {
    const i = this.indexOf(id);
    if (i >= 0) this.focusAt(i);
    else this.focusAt(Math.min(this.focusIndex, this.entries().length - 1));
  }

  focusedId(): string | null {
    return this.entries()[this.focusIndex]?.id ?? null;
  }

  /** Scroll to the top (after a filter change) and put the tab stop on the first entry. */
  resetScroll(): void {
    this.root.scrollTop = 0;
    this.focusIndex = 0;
    this.schedule();
  }

  containsFocus(): boolean {
    return this.grid.contains(document.activeElement);
  }
}
