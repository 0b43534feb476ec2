/**
 * The library grid: virtualised rows (only what is on screen is in the DOM, so 10,000+
 * files scroll smoothly), the WAI-ARIA grid pattern with a roving tabindex, selection
 * by pointer and keyboard, lazy thumbnails over ThumbHash placeholders.
 */

import { h, icon, isMac, isTypingTarget } from "./dom";
import { extensionLabel, formatBytes, formatDimensions, formatDuration } from "./format";
import { icons } from "./icons";
import { groupEntries, groupKey, layoutRows, moveVertical, rowOfIndex, rowsInView, rowAt, totalHeight, type LayoutRow } from "./groups";
import { computeMetrics, COMPACT_LAYOUT, DEFAULT_LAYOUT, moveIndex, type GridMetrics } from "./layout";
import type { Grouping } from "./listing";
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
  toggleFavourite?(id: string): void;
}

export interface GridOptions {
  /** Public pages: no selection, no favourites; a click opens. */
  readonly?: boolean;
  /** Pages where a plain click selects instead of opening (the trash). */
  clickSelects?(): boolean;
  grouping?(): Grouping;
  empty?(): { title: string; text: string } | null;
}

const HEADER_H = 44;

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
  const parts = [item.favourite ? `${item.name} (favourite)` : item.name, item.type === "other" ? extensionLabel(item.name) + " file" : item.type, formatBytes(item.size)];
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
  private layout: LayoutRow[] = [];
  private groupLabels: string[] = [];
  private readonly sticky: HTMLElement;

  constructor(
    private readonly library: Library,
    private readonly selection: Selection,
    private readonly cb: GridCallbacks,
    private readonly opts: GridOptions = {},
  ) {
    this.grid = h("div", {
      class: "grid",
      role: "grid",
      "aria-label": "Files",
      "aria-multiselectable": opts.readonly ? "false" : "true",
      "aria-describedby": "grid-help",
    });
    this.empty = h("div", { class: "grid-empty", hidden: true });
    this.footer = h("div", { class: "grid-footer", "aria-live": "polite" });
    const help = h(
      "p",
      { id: "grid-help", class: "sr-only" },
      `Arrow keys move between files. Enter opens. Space selects. Shift with arrows extends the selection. ${isMac ? "Command" : "Control"}+A selects all. Delete removes the selection.`,
    );
    this.sticky = h("div", { class: "group-sticky", "aria-hidden": "true", hidden: true }, h("span", {}));
    this.root = h("div", { class: `grid-scroll${opts.readonly ? " readonly" : ""}` }, help, this.sticky, this.grid, this.empty, this.footer);
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
    const grouping = this.opts.grouping?.() ?? "none";
    const groups =
      grouping === "none" ? null : groupEntries(entries.map((e) => (e.kind === "file" ? groupKey(e.item.taken_at, grouping) : "none")));
    this.groupLabels = groups?.map((g) => g.label) ?? [];
    this.layout = layoutRows(groups, entries.length, columns, rowHeight, HEADER_H);
    const layout = this.layout;
    const total = layout.length;
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
    this.grid.style.height = `${totalHeight(layout)}px`;

    const top = this.grid.offsetTop;
    const range = rowsInView(layout, this.root.scrollTop - top, this.root.clientHeight, 3);
    const wanted = new Set<number>();
    for (let r = range.start; r < range.end; r++) wanted.add(r);
    if (entries.length) wanted.add(Math.max(0, rowOfIndex(layout, this.focusIndex))); // the roving tab stop stays in the DOM
    this.renderSticky(groups !== null);

    for (const [r, el] of this.rows) {
      if (!wanted.has(r) || r >= total) {
        el.remove();
        this.rows.delete(r);
      }
    }
    const liveIds = new Set<string>();
    for (const r of [...wanted].sort((a, b) => a - b)) {
      if (r >= total) continue;
      const spec = layout[r];
      let rowEl = this.rows.get(r);
      if (rowEl && rowEl.dataset.kind !== spec.kind) {
        rowEl.remove();
        rowEl = undefined;
      }
      if (!rowEl) {
        rowEl = h("div", { class: spec.kind === "header" ? "grid-row grid-group" : "grid-row", role: "row", dataset: { kind: spec.kind } });
        this.rows.set(r, rowEl);
        this.insertRow(r, rowEl);
      }
      rowEl.setAttribute("aria-rowindex", String(r + 1));
      rowEl.style.transform = `translateY(${spec.top}px)`;
      if (spec.kind === "header") {
        const label = this.groupLabels[spec.group] ?? "";
        if (rowEl.textContent !== label) {
          rowEl.replaceChildren(h("div", { role: "columnheader", "aria-colspan": String(columns), class: "group-label" }, label));
        }
        continue;
      }
      const cells: HTMLElement[] = [];
      for (let i = spec.start; i < spec.end; i++) {
        const entry = entries[i];
        liveIds.add(entry.id);
        cells.push(this.cell(entry, i, i - spec.start));
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

  /** The label of the group at the top of the viewport stays pinned while its tiles scroll. */
  private renderSticky(grouped: boolean): void {
    const y = this.root.scrollTop - this.grid.offsetTop;
    const show = grouped && y > 0 && this.layout.length > 0;
    this.sticky.hidden = !show;
    if (!show) return;
    const row = this.layout[Math.max(0, rowAt(this.layout, y))];
    const label = row ? (this.groupLabels[row.group] ?? "") : "";
    if (this.sticky.textContent !== label) this.sticky.firstElementChild!.textContent = label;
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
    const filtered = !!(f.q || f.type || f.status || f.camera_make || f.camera_model || f.lens || f.taken_from || f.taken_to);
    const custom = filtered ? null : this.opts.empty?.();
    this.empty.replaceChildren(
      custom
        ? h("div", { class: "empty-card" }, icon(icons.grid, "icon empty-icon"), h("h2", {}, custom.title), h("p", {}, custom.text))
        : filtered
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
        ? `${entry.item.updated_at}|${entry.item.processing_status}|${entry.item.progress}|${entry.item.thumbnail_url ?? entry.item.local_thumbnail ?? ""}|${entry.item.playable ? 1 : 0}|${entry.item.favourite ? 1 : 0}|${entry.item.name.replaceAll("|", "/")}`
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
    if (!this.opts.readonly) {
      thumb.append(h("span", { class: "check", "aria-hidden": "true", "data-check": "1", title: "Select" }, icon(icons.check, "icon icon-xs")));
      if (this.cb.toggleFavourite && !item.trashed_at) {
        thumb.append(
          h("span", { class: `fav${item.favourite ? " on" : ""}`, "aria-hidden": "true", "data-fav": "1", title: item.favourite ? "Remove from favourites (f)" : "Add to favourites (f)" }, icon(icons.star, "icon icon-xs")),
        );
      }
    }
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
        "data-favourite": item.favourite ? "true" : "false",
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
    const target = e.target as HTMLElement;
    const onCheck = !!target.closest("[data-check]");
    hit.cell.focus({ preventScroll: true });
    if (this.opts.readonly) {
      this.cb.open(id);
    } else if (target.closest("[data-fav]")) {
      this.cb.toggleFavourite?.(id);
    } else if (this.lastPointer === "touch" && !onCheck) {
      if (this.selection.size || this.opts.clickSelects?.()) this.selection.toggle(id);
      else this.cb.open(id);
    } else if (onCheck) {
      this.selection.toggle(id);
    } else if (e.shiftKey || e.ctrlKey || e.metaKey || this.opts.clickSelects?.()) {
      this.selection.click(this.fileOrder(), id, { shift: e.shiftKey, toggle: e.ctrlKey || e.metaKey });
    } else {
      this.cb.open(id); // a plain click opens; the checkbox, Shift or Ctrl/Cmd select
    }
    this.schedule();
  }

  private onDblClick(e: MouseEvent): void {
    const hit = this.entryAt(e.target);
    if (!this.opts.clickSelects?.()) return; // a single click already opened it
    if (hit?.entry.kind === "file" && !(e.target as HTMLElement).closest("[data-check], [data-fav]")) this.cb.open(hit.entry.id);
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
        const grouped = this.groupLabels.length > 0;
        const next =
          grouped && (e.key === "ArrowDown" || e.key === "ArrowUp")
            ? moveVertical(this.layout, this.focusIndex, e.key === "ArrowDown" ? 1 : -1)
            : grouped && (e.key === "Home" || e.key === "End") && !mod
              ? this.rowEdge(e.key === "End")
              : moveIndex(this.focusIndex, e.key, entries.length, this.metrics.columns, this.pageRows(), mod);
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
        if (current?.kind === "file" && !this.opts.readonly) {
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
      case "f":
      case "F":
        if (!mod && current?.kind === "file" && this.cb.toggleFavourite && !this.opts.readonly && !current.item.trashed_at) {
          e.preventDefault();
          this.cb.toggleFavourite(current.id);
        }
        return;
      case "Delete":
      case "Backspace": {
        if (this.opts.readonly) return;
        e.preventDefault();
        const ids = this.selection.size ? this.selection.ordered(this.fileOrder()) : current?.kind === "file" ? [current.id] : [];
        if (ids.length) this.cb.requestDelete(ids);
        return;
      }
      default:
        if (mod && (e.key === "a" || e.key === "A") && !this.opts.readonly) {
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
    if (!this.layout.length) this.render();
    const spec = this.layout[Math.max(0, rowOfIndex(this.layout, this.focusIndex))];
    const rowHeight = spec?.height ?? this.metrics.rowHeight;
    const top = this.grid.offsetTop + (spec?.top ?? 0);
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

  private rowEdge(end: boolean): number {
    const spec = this.layout[rowOfIndex(this.layout, this.focusIndex)];
    if (!spec || spec.kind !== "tiles") return this.focusIndex;
    return end ? spec.end - 1 : spec.start;
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
