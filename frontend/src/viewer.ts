/**
 * The viewer: a modal dialog over the grid. Images with zoom and pan, videos with the
 * HLS player, details, download. ←/→ move through the files, Esc closes, focus is
 * trapped inside and returned to the grid cell of the last file shown.
 */

import type { Api } from "./api";
import { h, icon, isTypingTarget, trapFocus } from "./dom";
import { extensionLabel, formatBytes, formatDateTime, formatDimensions, formatDuration, parseServerDate } from "./format";
import { icons } from "./icons";
import type { Library } from "./library";
import { placeholderUrl } from "./placeholder";
import { Player } from "./player";
import { storyboardUrl } from "./storyboard";
import type { FileItem, Preview } from "./types";

export interface ViewerDeps {
  api: Api;
  library: Library;
  order(): string[];
  onClose(lastId: string | null): void;
  download(id: string): Promise<void>;
  requestDelete(ids: string[]): Promise<boolean>;
  /** Public share pages: no rename, favourite, share or delete; details from the item only. */
  readonly?: boolean;
  /** Whether the download button shows (share links without download permission hide it). */
  canDownload?(): boolean;
  /** Links for a file when they don't come from GET /api/files/<id>/preview (share pages). */
  preview?(id: string, signal: AbortSignal): Promise<Preview>;
  rename?(id: string, name: string): Promise<void>;
  toggleFavourite?(id: string): Promise<void>;
  share?(id: string): void;
  /** The delete button's label ("Move to trash", or "Delete forever" in the trash). */
  deleteLabel?(): string;
  /** Called whenever another file is shown (the app keeps the URL in step). */
  onShow?(id: string): void;
}

class ImageStage {
  readonly el: HTMLElement;
  private readonly img: HTMLImageElement;
  private scale = 1;
  private fit = 1;
  private x = 0;
  private y = 0;
  private natW = 0;
  private natH = 0;
  private drag: { id: number; sx: number; sy: number; x: number; y: number } | null = null;
  private pointers = new Map<number, { x: number; y: number }>();
  private pinch: { dist: number; scale: number } | null = null;
  private readonly zoomLabel: HTMLElement;
  private readonly ro: ResizeObserver;
  readonly toolbar: HTMLElement;

  constructor(src: string, lowSrc: string | null, placeholder: string | null, alt: string) {
    this.img = h("img", { class: "stage-img", alt, draggable: false, decoding: "async" }) as HTMLImageElement;
    this.el = h("div", { class: "stage-image", "data-zoomed": "false" }, this.img);
    if (placeholder) this.el.style.setProperty("--ph", `url("${placeholder}")`);
    this.zoomLabel = h("span", { class: "zoom-label", "aria-live": "polite" }, "Fit");
    const btn = (label: string, svg: string, fn: () => void, key: string) =>
      h("button", { class: "ctl", type: "button", "aria-label": label, title: `${label} (${key})`, onclick: fn }, icon(svg));
    this.toolbar = h(
      "div",
      { class: "zoom-bar", role: "toolbar", "aria-label": "Zoom" },
      btn("Zoom out", icons.zoomOut, () => this.zoomBy(1 / 1.4), "−"),
      this.zoomLabel,
      btn("Zoom in", icons.zoomIn, () => this.zoomBy(1.4), "+"),
      btn("Fit to screen", icons.fit, () => this.reset(), "0"),
    );
    const show = (url: string, final: boolean) => {
      const probe = new Image();
      probe.decoding = "async";
      probe.onload = () => {
        if (!final && this.img.dataset.final === "1") return;
        const first = !this.natW;
        const prevFit = first ? 0 : this.scale / this.fit;
        this.img.src = url;
        this.img.dataset.final = final ? "1" : "0";
        this.natW = probe.naturalWidth;
        this.natH = probe.naturalHeight;
        this.el.classList.add("ready");
        this.el.dataset.loaded = final ? "full" : "low";
        this.computeFit();
        if (first || prevFit <= 1.0001) this.reset();
        else this.apply();
      };
      probe.src = url;
    };
    if (lowSrc) show(lowSrc, false);
    show(src, true);
    this.el.addEventListener("wheel", (e) => this.onWheel(e), { passive: false });
    this.el.addEventListener("pointerdown", (e) => this.onDown(e));
    this.el.addEventListener("pointermove", (e) => this.onMove(e));
    const up = (e: PointerEvent) => {
      this.drag = null;
      this.pointers.delete(e.pointerId);
      if (this.pointers.size < 2) this.pinch = null;
    };
    this.el.addEventListener("pointerup", up);
    this.el.addEventListener("pointercancel", up);
    this.el.addEventListener("dblclick", (e) => {
      const r = this.el.getBoundingClientRect();
      if (this.scale > this.fit * 1.01) this.reset();
      else this.zoomTo(Math.max(1, this.fit * 2), e.clientX - r.left, e.clientY - r.top);
    });
    this.ro = new ResizeObserver(() => {
      const wasFit = Math.abs(this.scale - this.fit) < 1e-4;
      this.computeFit();
      if (wasFit) this.reset();
      else this.apply();
    });
    this.ro.observe(this.el);
  }

  private computeFit(): void {
    const w = this.el.clientWidth;
    const hgt = this.el.clientHeight;
    if (!this.natW || !w || !hgt) return;
    this.fit = Math.min(w / this.natW, hgt / this.natH, 1);
  }

  reset(): void {
    this.scale = this.fit;
    this.x = (this.el.clientWidth - this.natW * this.scale) / 2;
    this.y = (this.el.clientHeight - this.natH * this.scale) / 2;
    this.apply();
  }

  zoomBy(factor: number): void {
    this.zoomTo(this.scale * factor, this.el.clientWidth / 2, this.el.clientHeight / 2);
  }

  zoomTo(scale: number, px: number, py: number): void {
    if (!this.natW) return;
    const next = Math.max(Math.min(this.fit, 1) * 0.5, Math.min(8, scale));
    this.x = px - (px - this.x) * (next / this.scale);
    this.y = py - (py - this.y) * (next / this.scale);
    this.scale = next;
    this.apply();
  }

  private clamp(): void {
    const w = this.el.clientWidth;
    const hgt = this.el.clientHeight;
    const iw = this.natW * this.scale;
    const ih = this.natH * this.scale;
    this.x = iw <= w ? (w - iw) / 2 : Math.min(0, Math.max(w - iw, this.x));
    this.y = ih <= hgt ? (hgt - ih) / 2 : Math.min(0, Math.max(hgt - ih, this.y));
  }

  private apply(): void {
    if (!this.natW) return;
    this.clamp();
    this.img.style.width = `${this.natW}px`;
    this.img.style.height = `${this.natH}px`;
    this.img.style.transform = `translate(${this.x}px, ${this.y}px) scale(${this.scale})`;
    const zoomed = this.scale > this.fit * 1.01;
    this.el.dataset.zoomed = String(zoomed);
    this.el.dataset.scale = this.scale.toFixed(3);
    this.zoomLabel.textContent = Math.abs(this.scale - this.fit) < 1e-3 ? `Fit · ${Math.round(this.scale * 100)}%` : `${Math.round(this.scale * 100)}%`;
  }

  private onWheel(e: WheelEvent): void {
    e.preventDefault();
    const r = this.el.getBoundingClientRect();
    const factor = Math.exp(-e.deltaY * (e.ctrlKey ? 0.01 : 0.0025));
    this.zoomTo(this.scale * factor, e.clientX - r.left, e.clientY - r.top);
  }

  get zoomed(): boolean {
    return this.scale > this.fit * 1.01;
  }

  private pinchDistance(): { dist: number; x: number; y: number } {
    const [a, b] = [...this.pointers.values()];
    const r = this.el.getBoundingClientRect();
    return { dist: Math.hypot(a.x - b.x, a.y - b.y) || 1, x: (a.x + b.x) / 2 - r.left, y: (a.y + b.y) / 2 - r.top };
  }

  private onDown(e: PointerEvent): void {
    this.pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
    if (this.pointers.size === 2) {
      this.drag = null;
      this.pinch = { dist: this.pinchDistance().dist, scale: this.scale };
      return;
    }
    if (e.button !== 0 || this.scale <= this.fit * 1.01) return;
    this.drag = { id: e.pointerId, sx: e.clientX, sy: e.clientY, x: this.x, y: this.y };
    this.el.setPointerCapture(e.pointerId);
  }

  private onMove(e: PointerEvent): void {
    if (this.pointers.has(e.pointerId)) this.pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
    if (this.pinch && this.pointers.size === 2) {
      const p = this.pinchDistance();
      this.zoomTo(this.pinch.scale * (p.dist / this.pinch.dist), p.x, p.y);
      return;
    }
    if (!this.drag || e.pointerId !== this.drag.id) return;
    this.x = this.drag.x + e.clientX - this.drag.sx;
    this.y = this.drag.y + e.clientY - this.drag.sy;
    this.apply();
  }

  handleKey(e: KeyboardEvent): boolean {
    if (e.key === "+" || e.key === "=") this.zoomBy(1.4);
    else if (e.key === "-" || e.key === "_") this.zoomBy(1 / 1.4);
    else if (e.key === "0") this.reset();
    else return false;
    return true;
  }

  destroy(): void {
    this.ro.disconnect();
  }
}

function metaRows(item: FileItem): [string, string][] {
  const rows: [string, string][] = [
    ["Type", `${item.type === "other" ? `${extensionLabel(item.name)} file` : item.type === "video" ? "Video" : "Image"}${item.mime_type ? ` (${item.mime_type})` : ""}`],
    ["Size", formatBytes(item.size)],
  ];
  const dims = formatDimensions(item.width, item.height);
  if (dims) rows.push(["Dimensions", dims]);
  if (item.duration) rows.push(["Duration", formatDuration(item.duration)]);
  rows.push(["Uploaded", formatDateTime(parseServerDate(item.created_at))]);
  const md = (item.metadata ?? {}) as Record<string, any>;
  const add = (label: string, value: unknown) => {
    if (value === undefined || value === null || value === "" || (typeof value === "number" && !Number.isFinite(value))) return;
    rows.push([label, String(value)]);
  };
  if (item.type === "video") {
    add("Video", [md.video_codec?.toUpperCase?.(), md.video_profile].filter(Boolean).join(" · "));
    if (typeof md.fps === "number") add("Frame rate", `${Math.round(md.fps * 100) / 100} fps`);
    if (typeof md.bitrate === "number") add("Bit rate", `${(md.bitrate / 1e6).toFixed(1)} Mb/s`);
    if (md.has_audio) {
      const audio = [md.audio_codec?.toUpperCase?.(), md.audio_channels ? `${md.audio_channels} ch` : "", md.audio_sample_rate ? `${md.audio_sample_rate / 1000} kHz` : ""];
      add("Audio", audio.filter(Boolean).join(" · "));
    }
    add("Pixel format", md.pix_fmt);
    if (md.hdr) add("HDR", "Yes");
    if (Array.isArray(md.rungs) && md.rungs.length) add("Streaming", md.rungs.map((r: { name?: string }) => r.name).filter(Boolean).join(" · "));
  }
  if (item.type === "image") {
    add("Format", [md.format, md.mode].filter(Boolean).join(" · "));
    add("Colour profile", md.icc_profile);
    const ex = (md.exif ?? {}) as Record<string, any>;
    add("Camera", [ex.make, ex.model].filter(Boolean).join(" "));
    add("Lens", ex.lens_model);
    const exposure: string[] = [];
    if (typeof ex.exposure_time === "number") exposure.push(ex.exposure_time >= 1 ? `${ex.exposure_time} s` : `1/${Math.round(1 / ex.exposure_time)} s`);
    if (typeof ex.f_number === "number") exposure.push(`f/${ex.f_number}`);
    if (ex.iso) exposure.push(`ISO ${ex.iso}`);
    if (typeof ex.focal_length === "number") exposure.push(`${Math.round(ex.focal_length)} mm`);
    add("Exposure", exposure.join(" · "));
    add("Taken", ex.taken_at ? formatDateTime(new Date(ex.taken_at)) : null);
  }
  const color = md.color as Record<string, unknown> | undefined;
  if (color && typeof color === "object") {
    add("Colour", [color.curve, color.transfer, color.space].filter((v) => typeof v === "string" && v).join(" · "));
  }
  return rows;
}

type VideoMode = "wait" | "direct" | "hls" | "final" | "failed";

/** Status poll while an open video waits for its first playable rung (one small GET). */
const WAIT_POLL_MS = 300;

export class Viewer {
  readonly dialog: HTMLDialogElement;
  private readonly titleEl: HTMLElement;
  private readonly metaEl: HTMLElement;
  private readonly counter: HTMLElement;
  private readonly body: HTMLElement;
  private readonly details: HTMLElement;
  private readonly prevBtn: HTMLButtonElement;
  private readonly nextBtn: HTMLButtonElement;
  private readonly downloadBtn: HTMLButtonElement;
  private readonly favBtn: HTMLButtonElement;
  private readonly renameBtn: HTMLButtonElement;
  private readonly deleteBtn: HTMLButtonElement;
  private renaming: HTMLInputElement | null = null;
  private currentId: string | null = null;
  private renderedSig = "";
  private image: ImageStage | null = null;
  private player: Player | null = null;
  private playerMode: VideoMode | null = null;
  private note: HTMLElement | null = null;
  private directFailed = new Set<string>();
  private load: AbortController | null = null;
  private previews = new Map<string, { at: number; preview: Preview }>();
  private untrap: (() => void) | null = null;
  private unsub: (() => void) | null = null;
  private poll: ReturnType<typeof setInterval> | null = null;
  private polling = false;

  constructor(private readonly deps: ViewerDeps) {
    this.titleEl = h("h2", { id: "viewer-title", class: "viewer-title" });
    this.metaEl = h("p", { class: "viewer-meta" });
    this.counter = h("span", { class: "viewer-counter" });
    this.body = h("div", { class: "viewer-body" });
    this.details = h("aside", { class: "viewer-details", "aria-label": "Details", hidden: true });
    const iconBtn = (label: string, svg: string, fn: () => void, extra = "") =>
      h("button", { class: `btn-icon ${extra}`, type: "button", "aria-label": label, title: label, onclick: fn }, icon(svg)) as HTMLButtonElement;
    this.prevBtn = iconBtn("Previous file", icons.left, () => this.step(-1), "viewer-nav nav-prev");
    this.nextBtn = iconBtn("Next file", icons.right, () => this.step(1), "viewer-nav nav-next");
    this.downloadBtn = h(
      "button",
      { class: "btn btn-secondary", type: "button", onclick: () => this.currentId && void this.deps.download(this.currentId) },
      icon(icons.download),
      h("span", { class: "label" }, "Download"),
    ) as HTMLButtonElement;
    this.favBtn = iconBtn("Favourite", icons.star, () => void this.toggleFavourite(), "fav-toggle");
    this.favBtn.setAttribute("aria-pressed", "false");
    this.renameBtn = iconBtn("Rename", icons.edit, () => this.startRename(), "rename");
    const ro = !!deps.readonly;
    this.deleteBtn = iconBtn("Move to trash", icons.trash, () => void this.deleteCurrent(), "danger");
    const header = h(
      "header",
      { class: "viewer-header" },
      h("div", { class: "viewer-heading" }, h("div", { class: "viewer-title-row" }, this.titleEl, ro || !deps.rename ? null : this.renameBtn), this.metaEl),
      h(
        "div",
        { class: "viewer-actions" },
        this.counter,
        this.downloadBtn,
        ro || !deps.toggleFavourite ? null : this.favBtn,
        ro || !deps.share ? null : iconBtn("Share", icons.share, () => this.currentId && deps.share?.(this.currentId), "share"),
        iconBtn("Details (i)", icons.info, () => this.toggleDetails(), "details-toggle"),
        ro ? null : this.deleteBtn,
        iconBtn("Close viewer", icons.close, () => this.close(), "close"),
      ),
    );
    this.dialog = h(
      "dialog",
      { class: "viewer", "aria-labelledby": "viewer-title", "aria-describedby": "viewer-help" },
      header,
      h("div", { class: "viewer-main" }, this.prevBtn, this.body, this.nextBtn, this.details),
      h("p", { id: "viewer-help", class: "sr-only" }, "Left and right arrow keys move between files. Escape closes the viewer."),
    ) as HTMLDialogElement;
    this.dialog.addEventListener("cancel", (e) => {
      e.preventDefault();
      this.close();
    });
    this.dialog.addEventListener("keydown", (e) => this.onKey(e));
    let swipe: { x: number; y: number; id: number } | null = null;
    this.body.addEventListener("pointerdown", (e) => {
      swipe = e.pointerType === "touch" && e.isPrimary ? { x: e.clientX, y: e.clientY, id: e.pointerId } : null;
    });
    this.body.addEventListener("pointerup", (e) => {
      if (!swipe || e.pointerId !== swipe.id) return;
      const dx = e.clientX - swipe.x;
      const dy = e.clientY - swipe.y;
      swipe = null;
      if (this.image?.zoomed || (e.target as HTMLElement).closest(".controls, .zoom-bar")) return;
      if (Math.abs(dx) > 60 && Math.abs(dy) < 60) this.step(dx < 0 ? 1 : -1);
    });
    this.dialog.addEventListener("click", (e) => {
      if (e.target === this.body) this.close(); // click on the backdrop area around the media
    });
    document.body.append(this.dialog);
  }

  get isOpen(): boolean {
    return this.dialog.open;
  }

  get current(): string | null {
    return this.currentId;
  }

  open(id: string): void {
    if (!this.dialog.open) {
      this.dialog.showModal();
      document.documentElement.classList.add("modal-open");
      this.untrap = trapFocus(this.dialog);
      this.unsub = this.deps.library.onChange(() => this.onLibraryChange());
    }
    this.show(id);
    (this.dialog.querySelector<HTMLElement>(".close") ?? this.dialog).focus();
  }

  /**
   * Called on the first press on a tile: the signed links (and hls.js for a video) are fetched
   * while the double-click completes, so opening a video does not start with a round trip.
   */
  warm(id: string): void {
    const item = this.deps.library.get(id);
    if (!item || item.type === "other" || item.processing_status === "failed") return;
    if (item.type === "video") void import("hls.js");
    void this.previewFor(id, new AbortController().signal).catch(() => undefined);
  }

  close(): void {
    if (!this.dialog.open) return;
    this.renaming = null;
    const last = this.currentId;
    this.teardown();
    this.dialog.close();
    document.documentElement.classList.remove("modal-open");
    this.untrap?.();
    this.unsub?.();
    this.untrap = this.unsub = null;
    this.currentId = null;
    this.deps.onClose(last);
  }

  private teardown(): void {
    this.load?.abort();
    this.image?.destroy();
    this.player?.destroy();
    this.image = null;
    this.player = null;
    this.playerMode = null;
    this.note = null;
    if (this.poll) clearInterval(this.poll);
    this.poll = null;
  }

  private neighbours(): { order: string[]; index: number } {
    const order = this.deps.order();
    return { order, index: this.currentId ? order.indexOf(this.currentId) : -1 };
  }

  step(delta: number): void {
    const { order, index } = this.neighbours();
    const next = order[index + delta];
    if (next) this.show(next);
    else if (delta > 0 && this.deps.library.hasMore) void this.deps.library.loadMore().then(() => {
      const more = this.deps.order()[index + 1];
      if (more) this.show(more);
    });
  }

  /**
   * How a video can be shown right now (see FileItem.playable / direct_play). While the ladder
   * encodes, an original the browser can play beats the growing low rung: it is there at once and
   * at full quality; the viewer moves to the finished ladder when processing completes.
   */
  private videoMode(item: FileItem): VideoMode {
    if (item.processing_status === "failed") return "failed";
    if (item.processing_status === "completed") return "final";
    if (item.direct_play !== false && !this.directFailed.has(item.id)) return "direct";
    if (item.playable) return "hls";
    return "wait";
  }

  private itemSig(item: FileItem): string {
    if (item.type === "video") {
      const mode = this.videoMode(item);
      // a thumbnail arriving matters only while nothing plays (it is the poster then)
      return `${item.id}|${mode}|${mode === "wait" && item.thumbnail_url ? 1 : 0}`;
    }
    return `${item.id}|${item.processing_status}|${item.thumbnail_url ? 1 : 0}`;
  }

  /**
   * The open video moves on without a reload: the original (direct play) keeps playing until
   * the full ladder is ready (it is better than the growing low rung); the growing low rung
   * hands over to the full ladder at the same position.
   */
  private async upgradePlayer(item: FileItem, mode: VideoMode): Promise<boolean> {
    const player = this.player;
    const from = this.playerMode;
    if (!player || !from || item.type !== "video") return false;
    if (from === "direct" && mode === "hls") return true; // keep playing the original
    if (!((from === "direct" || from === "hls") && mode === "final")) return false;
    this.playerMode = mode;
    this.previews.delete(item.id);
    const ctrl = new AbortController();
    this.load = ctrl;
    try {
      const preview = await this.previewFor(item.id, ctrl.signal);
      if (ctrl.signal.aborted || this.player !== player || !preview.hls_url) return true;
      await player.switchToHls(preview.hls_url, storyboardUrl(preview.variants));
      this.note?.remove();
      this.note = null;
    } catch {
      /* keep what plays */
    }
    return true;
  }

  private onLibraryChange(): void {
    if (!this.currentId) return;
    const item = this.deps.library.get(this.currentId);
    if (!item) return;
    this.updateHeader(item);
    const sig = this.itemSig(item);
    if (sig !== this.renderedSig) {
      const mode = this.videoMode(item);
      if (item.type === "video" && this.player && this.playerMode && mode !== "failed") {
        if ((this.playerMode === "direct" && mode === "hls") || ((this.playerMode === "direct" || this.playerMode === "hls") && mode === "final")) {
          this.renderedSig = sig;
          void this.upgradePlayer(item, mode);
          return;
        }
      }
      this.previews.delete(item.id);
      this.show(item.id, true);
    } else if (item.processing_status === "processing") {
      if (this.note) this.note.lastChild!.textContent = this.noteText(item);
      const status = this.body.querySelector(".stage-status-text");
      if (status) status.textContent = `Processing ${Math.round(item.progress)}%`;
      const bar = this.body.querySelector<HTMLElement>(".stage-progress i");
      if (bar) bar.style.width = `${Math.max(3, item.progress)}%`;
    }
  }

  private updateHeader(item: FileItem): void {
    if (!this.renaming) this.titleEl.textContent = item.name;
    this.favBtn.setAttribute("aria-pressed", item.favourite ? "true" : "false");
    this.favBtn.classList.toggle("on", !!item.favourite);
    this.favBtn.setAttribute("aria-label", item.favourite ? "Remove from favourites" : "Add to favourites");
    this.favBtn.title = this.favBtn.getAttribute("aria-label")!;
    this.favBtn.hidden = !!item.trashed_at;
    this.renameBtn.hidden = !!item.trashed_at;
    this.downloadBtn.hidden = this.deps.canDownload ? !this.deps.canDownload() : false;
    const del = this.deps.deleteLabel?.() ?? "Move to trash";
    this.deleteBtn.setAttribute("aria-label", del);
    this.deleteBtn.title = del;
    const parts = [formatBytes(item.size)];
    const dims = formatDimensions(item.width, item.height);
    if (dims) parts.push(dims);
    if (item.duration) parts.push(formatDuration(item.duration));
    this.metaEl.textContent = parts.join(" · ");
    const { order, index } = this.neighbours();
    this.counter.textContent = index >= 0 ? `${index + 1} of ${order.length}${this.deps.library.hasMore ? "+" : ""}` : "";
    this.prevBtn.disabled = index <= 0;
    this.nextBtn.disabled = index < 0 || (index >= order.length - 1 && !this.deps.library.hasMore);
  }

  private async previewFor(id: string, signal: AbortSignal): Promise<Preview> {
    const hit = this.previews.get(id);
    const ttl = ((hit?.preview.expires_in ?? 3600) * 1000) / 2;
    if (hit && Date.now() - hit.at < ttl) return hit.preview;
    const preview = this.deps.preview ? await this.deps.preview(id, signal) : await this.deps.api.preview(id, signal);
    this.previews.set(id, { at: Date.now(), preview });
    return preview;
  }

  show(id: string, refresh = false): void {
    const item = this.deps.library.get(id);
    if (!item) return;
    const keepFocus = this.dialog.contains(document.activeElement) ? (document.activeElement as HTMLElement) : null;
    const moved = this.currentId !== id;
    this.teardown();
    if (moved) this.cancelRename();
    this.currentId = id;
    if (moved || !refresh) this.deps.onShow?.(id);
    this.dialog.dataset.fileId = id;
    this.dialog.dataset.type = item.type;
    this.renderedSig = this.itemSig(item);
    this.updateHeader(item);
    if (!this.details.hidden) this.renderDetails(item);
    const ph = placeholderUrl(item.placeholder);
    this.body.replaceChildren(this.statusStage(item, ph, "Loading preview…"));
    const load = new AbortController();
    this.load = load;
    void this.renderMedia(item, ph, load.signal);
    if (item.processing_status === "pending" || item.processing_status === "processing") {
      // a video waiting for playback polls fastest (its first 2 s segment is out ~1.5 s into the
      // job: a 1 s poll alone would add 0.5 s on average), one playing the original less so
      const mode = item.type === "video" ? this.videoMode(item) : "final";
      if (mode === "wait") this.poll = setInterval(() => void this.pollOne(id), WAIT_POLL_MS);
      else this.poll = setInterval(() => void this.deps.library.pollActive(), mode !== "final" ? 1000 : 2000);
      if (item.type === "video") void import("hls.js"); // warm: fetched and parsed before it is needed
    }
    this.prefetchNeighbours();
    if (keepFocus && !keepFocus.isConnected) (this.dialog.querySelector<HTMLElement>(".close") ?? this.dialog).focus();
  }

  /** One GET of the open file (not every active one): cheap enough to run every 300 ms. */
  private async pollOne(id: string): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const item = await this.deps.api.getFile(id);
      if (this.currentId === id) this.deps.library.upsert(item);
    } catch {
      /* next tick */
    } finally {
      this.polling = false;
    }
  }

  private statusStage(item: FileItem, ph: string | null, text: string, error = false): HTMLElement {
    const stage = h("div", { class: `stage-status ${error ? "is-error" : ""}` });
    if (ph) stage.style.setProperty("--ph", `url("${ph}")`);
    const active = item.processing_status === "processing" || item.processing_status === "pending";
    stage.append(
      h(
        "div",
        { class: "stage-status-card" },
        error ? icon(icons.alert, "icon icon-lg") : active ? icon(icons.spinner, "icon icon-lg") : icon(item.type === "video" ? icons.video : item.type === "image" ? icons.image : icons.file, "icon icon-lg"),
        h("p", { class: "stage-status-text" }, text),
        item.processing_status === "processing" ? h("div", { class: "stage-progress" }, h("i", { style: { width: `${Math.max(3, item.progress)}%` } })) : null,
      ),
    );
    return stage;
  }

  private async renderMedia(item: FileItem, ph: string | null, signal: AbortSignal): Promise<void> {
    const body = this.body;
    if (item.processing_status === "failed") {
      body.replaceChildren(this.statusStage(item, ph, `Processing failed: ${item.error || "no reason given"}. The original can still be downloaded.`, true));
      return;
    }
    if (item.type === "other") {
      body.replaceChildren(
        h(
          "div",
          { class: "stage-status stage-other" },
          h(
            "div",
            { class: "stage-status-card" },
            h("div", { class: "file-glyph" }, extensionLabel(item.name)),
            h("p", { class: "stage-status-text" }, "No preview for this kind of file."),
            h("button", { class: "btn btn-primary", type: "button", onclick: () => void this.deps.download(item.id) }, icon(icons.download), `Download ${formatBytes(item.size)}`),
          ),
        ),
      );
      return;
    }
    let preview: Preview;
    try {
      preview = await this.previewFor(item.id, signal);
    } catch (err) {
      if (signal.aborted) return;
      body.replaceChildren(this.statusStage(item, ph, `Could not load the preview: ${(err as Error).message}`, true));
      return;
    }
    if (signal.aborted) return;
    if (item.type === "image") {
      if (!preview.preview_url) {
        body.replaceChildren(this.statusStage(item, ph, item.processing_status === "processing" ? `Processing ${Math.round(item.progress)}%` : "Waiting to be processed…"));
        return;
      }
      this.image = new ImageStage(preview.preview_url, item.thumbnail_url, ph, item.name);
      body.replaceChildren(this.image.el, this.image.toolbar);
      return;
    }
    let mode = this.videoMode(item);
    if (mode === "final" || mode === "hls") mode = preview.hls_url ? mode : "wait";
    if (mode === "direct" && !preview.direct_url) mode = "wait";
    if (mode === "wait") {
      body.replaceChildren(this.statusStage(item, ph, item.processing_status === "processing" ? `Processing ${Math.round(item.progress)}%` : "Waiting to be processed…"));
      return;
    }
    const poster = preview.preview_url ?? preview.thumbnail_url;
    this.player = new Player({
      hlsUrl: mode === "direct" ? null : preview.hls_url,
      directUrl: mode === "direct" ? preview.direct_url : null,
      onDirectError: () => {
        this.directFailed.add(item.id);
        if (this.currentId === item.id) this.show(item.id, true);
      },
      poster,
      storyboardUrl: storyboardUrl(preview.variants),
      title: item.name,
      autoplay: true,
    });
    this.playerMode = mode;
    const wrap = h("div", { class: "stage-video" }, this.player.el);
    if (ph) wrap.style.setProperty("--ph", `url("${ph}")`);
    body.replaceChildren(wrap);
    if (item.processing_status !== "completed") {
      this.note = h("div", { class: "stage-note" }, icon(icons.spinner, "icon icon-xs"), h("span", {}, this.noteText(item)));
      wrap.append(this.note);
    }
    await this.player.start();
  }

  private noteText(item: FileItem): string {
    const pct = Math.round(item.progress);
    return this.playerMode === "direct"
      ? `Still processing (${pct}%): playing the original`
      : `Still processing (${pct}%): playing the first quality ready`;
  }

  private prefetchNeighbours(): void {
    const { order, index } = this.neighbours();
    for (const d of [1, -1]) {
      const id = order[index + d];
      const item = id ? this.deps.library.get(id) : undefined;
      if (!item || item.type !== "image" || item.processing_status !== "completed") continue;
      const ctrl = new AbortController();
      void this.previewFor(id, ctrl.signal)
        .then((p) => {
          if (p.preview_url) {
            const img = new Image();
            img.decoding = "async";
            img.src = p.preview_url;
          }
        })
        .catch(() => undefined);
    }
  }

  private toggleDetails(): void {
    this.details.hidden = !this.details.hidden;
    this.dialog.classList.toggle("with-details", !this.details.hidden);
    const item = this.currentId ? this.deps.library.get(this.currentId) : undefined;
    if (item && !this.details.hidden) this.renderDetails(item);
  }

  private renderDetails(item: FileItem): void {
    const list = (it: FileItem) =>
      h(
        "dl",
        {},
        metaRows(it).flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]),
      );
    this.details.replaceChildren(h("h3", {}, "Details"), list(item));
    if (!item.metadata && !this.deps.readonly) {
      void this.deps.api
        .getFile(item.id)
        .then((full) => {
          if (this.currentId !== item.id || this.details.hidden) return;
          item.metadata = full.metadata ?? {};
          this.details.replaceChildren(h("h3", {}, "Details"), list(item));
        })
        .catch(() => undefined);
    }
    if (item.processing_status === "failed" && item.error) {
      this.details.append(h("h3", {}, "Processing error"), h("p", { class: "error-text" }, item.error));
    }
  }

  /** Inline rename: the title becomes a text field; Enter saves, Esc cancels. */
  startRename(): void {
    const id = this.currentId;
    const item = id ? this.deps.library.get(id) : undefined;
    if (!id || !item || !this.deps.rename || this.renaming) return;
    const input = h("input", { class: "rename-input", type: "text", value: item.name, "aria-label": "File name", maxlength: 255, spellcheck: false }) as HTMLInputElement;
    this.renaming = input;
    this.titleEl.replaceChildren(input);
    this.renameBtn.hidden = true;
    input.focus();
    const dot = item.name.lastIndexOf(".");
    input.setSelectionRange(0, dot > 0 ? dot : item.name.length);
    let done = false;
    const finish = async (save: boolean) => {
      if (done) return;
      done = true;
      const name = input.value.trim();
      if (save && name && name !== item.name) {
        input.disabled = true;
        try {
          await this.deps.rename!(id, name);
        } catch {
          /* the app shows the error; the old name stays */
        }
      }
      if (this.renaming !== input) return;
      this.renaming = null;
      this.renameBtn.hidden = false;
      const cur = this.currentId ? this.deps.library.get(this.currentId) : undefined;
      this.titleEl.textContent = cur?.name ?? item.name;
      this.renameBtn.focus();
    };
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        e.preventDefault();
        void finish(true);
      } else if (e.key === "Escape") {
        e.preventDefault();
        e.stopPropagation();
        void finish(false);
      }
      e.stopPropagation();
    });
    input.addEventListener("blur", () => void finish(true));
  }

  private cancelRename(): void {
    if (!this.renaming) return;
    this.renaming = null;
    this.renameBtn.hidden = false;
  }

  private async toggleFavourite(): Promise<void> {
    if (this.currentId) await this.deps.toggleFavourite?.(this.currentId);
  }

  private async deleteCurrent(): Promise<void> {
    const id = this.currentId;
    if (!id) return;
    const { order, index } = this.neighbours();
    const next = order[index + 1] ?? order[index - 1] ?? null;
    const ok = await this.deps.requestDelete([id]);
    if (!ok) return;
    if (next && this.deps.library.get(next)) this.show(next);
    else this.close();
  }

  private onKey(e: KeyboardEvent): void {
    if (isTypingTarget(e.target) && e.key !== "Escape") return;
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    const onControl = (e.target as HTMLElement).closest("button, [role=slider], select, input");
    if (e.key === "ArrowLeft" || e.key === "ArrowRight") {
      if ((e.target as HTMLElement).closest("[role=slider], input, select")) return;
      e.preventDefault();
      this.step(e.key === "ArrowLeft" ? -1 : 1);
      return;
    }
    if (e.key === "i" || e.key === "I") {
      this.toggleDetails();
      return;
    }
    if (e.key === "F2" && !this.deps.readonly) {
      e.preventDefault();
      this.startRename();
      return;
    }
    if (this.image?.handleKey(e)) {
      e.preventDefault();
      return;
    }
    if (this.player && !(e.key === " " && onControl) && this.player.handleKey(e)) {
      e.preventDefault();
    }
  }
}
