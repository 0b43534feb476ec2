/**
 * The video player: HLS via hls.js (MSE) or the browser's native HLS, a poster, custom
 * controls and storyboard thumbnails over the seek bar.
 */

import { h, icon } from "./dom";
import { formatDuration } from "./format";
import { HANDOVER_LEAD_SECONDS, bufferedEndAt, handOver, planTransfer, trimSourceBuffers } from "./ladderswitch";
import { icons } from "./icons";
import { parseStoryboard, tileAt, type StoryboardTile } from "./storyboard";

export interface PlayerOptions {
  /** HLS master; may be a growing (EVENT) presentation while the ladder encodes. */
  hlsUrl?: string | null;
  /** The original over a signed Range link: played as is until HLS takes over (switchToHls). */
  directUrl?: string | null;
  /** Direct play failed (codec the browser can't decode after all). */
  onDirectError?: () => void;
  poster?: string | null;
  storyboardUrl?: string | null;
  title: string;
  autoplay?: boolean;
}

type HlsModule = typeof import("hls.js");
type AttachMediaSourceData = import("hls.js").AttachMediaSourceData;
type HlsInstance = InstanceType<HlsModule["default"]>;

export class Player {
  readonly el: HTMLElement;
  /** The element showing the video; replaced once, when a direct-played original hands over to HLS. */
  private current: HTMLVideoElement;
  private videoEvents = new AbortController();
  private hls: HlsInstance | null = null;
  private tiles: StoryboardTile[] = [];
  private readonly seek: HTMLElement;
  private readonly played: HTMLElement;
  private readonly buffered: HTMLElement;
  private readonly handle: HTMLElement;
  private readonly preview: HTMLElement;
  private readonly previewImg: HTMLElement;
  private readonly previewTime: HTMLElement;
  private readonly time: HTMLElement;
  private readonly playBtn: HTMLButtonElement;
  private readonly bigPlay: HTMLButtonElement;
  private readonly muteBtn: HTMLButtonElement;
  private readonly volume: HTMLInputElement;
  private readonly quality: HTMLSelectElement;
  private readonly message: HTMLElement;
  private scrubbing = false;
  private hideTimer: ReturnType<typeof setTimeout> | null = null;
  private destroyed = false;

  constructor(private readonly opts: PlayerOptions) {
    this.current = this.makeVideo();
    this.played = h("div", { class: "seek-played" });
    this.buffered = h("div", { class: "seek-buffered" });
    this.handle = h("div", { class: "seek-handle" });
    this.previewImg = h("div", { class: "seek-preview-img" });
    this.previewTime = h("span", { class: "seek-preview-time" });
    this.preview = h("div", { class: "seek-preview", hidden: true, "aria-hidden": "true" }, this.previewImg, this.previewTime);
    this.seek = h(
      "div",
      { class: "seek", role: "slider", tabindex: "0", "aria-label": "Seek", "aria-valuemin": "0", "aria-valuemax": "0", "aria-valuenow": "0" },
      h("div", { class: "seek-track" }, this.buffered, this.played),
      this.handle,
      this.preview,
    );
    this.time = h("span", { class: "time", "aria-live": "off" }, "0:00 / 0:00");
    this.playBtn = h("button", { class: "ctl", type: "button", "aria-label": "Play", title: "Play (k)" }, icon(icons.play)) as HTMLButtonElement;
    this.bigPlay = h("button", { class: "big-play", type: "button", "aria-label": "Play video" }, icon(icons.play)) as HTMLButtonElement;
    this.muteBtn = h("button", { class: "ctl", type: "button", "aria-label": "Mute", title: "Mute (m)" }, icon(icons.volume)) as HTMLButtonElement;
    this.volume = h("input", { class: "volume", type: "range", min: "0", max: "1", step: "0.05", value: "1", "aria-label": "Volume" }) as HTMLInputElement;
    this.quality = h("select", { class: "quality", "aria-label": "Quality", title: "Quality" }, h("option", { value: "-1" }, "Auto")) as HTMLSelectElement;
    this.quality.disabled = true;
    const fullBtn = h("button", { class: "ctl", type: "button", "aria-label": "Full screen", title: "Full screen (f)" }, icon(icons.fullscreen));
    this.message = h("div", { class: "player-message", hidden: true, role: "status" });
    const controls = h(
      "div",
      { class: "controls" },
      this.seek,
      h("div", { class: "controls-row" }, this.playBtn, this.time, h("span", { class: "spacer" }), this.muteBtn, this.volume, this.quality, fullBtn),
    );
    this.el = h("div", { class: "player paused", "data-engine": "none" }, this.video, this.bigPlay, this.message, controls);

    const toggle = () => this.toggle();
    this.playBtn.addEventListener("click", toggle);
    this.bigPlay.addEventListener("click", toggle);
    this.muteBtn.addEventListener("click", () => (this.video.muted = !this.video.muted));
    this.volume.addEventListener("input", () => {
      this.video.volume = Number(this.volume.value);
      this.video.muted = this.video.volume === 0;
    });
    this.volume.addEventListener("keydown", (e) => e.stopPropagation());
    this.quality.addEventListener("change", () => {
      if (this.hls) this.hls.currentLevel = Number(this.quality.value);
    });
    this.quality.addEventListener("keydown", (e) => e.stopPropagation());
    fullBtn.addEventListener("click", () => this.fullscreen());
    this.bindVideo(this.current);
    this.bindSeek();
    this.el.addEventListener("pointermove", () => this.wake());
    this.el.addEventListener("focusin", () => this.wake());
  }

  get video(): HTMLVideoElement {
    return this.current;
  }

  private makeVideo(): HTMLVideoElement {
    const v = h("video", { playsinline: true, preload: "auto", "aria-label": `Video: ${this.opts.title}` }) as HTMLVideoElement;
    if (this.opts.poster) v.poster = this.opts.poster;
    return v;
  }

  /** The player follows ``v``'s state (and only ``v``'s: a replaced element's events are dropped). */
  private bindVideo(v: HTMLVideoElement): void {
    this.videoEvents.abort();
    this.videoEvents = new AbortController();
    const on = (type: string, fn: () => void) => v.addEventListener(type, fn, { signal: this.videoEvents.signal });
    on("click", () => this.toggle());
    on("play", () => this.syncState());
    on("pause", () => this.syncState());
    on("ended", () => this.syncState());
    on("timeupdate", () => this.syncTime());
    on("durationchange", () => this.syncTime());
    on("progress", () => this.syncTime());
    on("volumechange", () => this.syncVolume());
    on("waiting", () => this.el.classList.add("waiting"));
    on("playing", () => this.el.classList.remove("waiting"));
    on("canplay", () => this.el.classList.remove("waiting"));
    on("error", () => {
      if (this.el.dataset.engine === "direct") {
        this.el.dataset.engine = "direct-failed";
        this.opts.onDirectError?.();
        return;
      }
      if (!this.hls) this.showMessage(`This video can't be played here (${v.error?.message || "media error " + (v.error?.code ?? "")}).`);
    });
  }

  async start(): Promise<void> {
    if (!this.opts.hlsUrl && this.opts.directUrl) {
      // the original itself, over Range requests, while the ladder encodes
      this.el.dataset.engine = "direct";
      this.video.src = this.opts.directUrl;
      if (this.opts.autoplay) this.video.play().catch(() => this.syncState());
      return;
    }
    await this.attachHls(this.opts.hlsUrl ?? "", 0, !!this.opts.autoplay);
    if (this.opts.storyboardUrl) void this.loadStoryboard(this.opts.storyboardUrl);
  }

  /**
   * Switch to (or reload) HLS without a visible break: same position, same play/pause state.
   * Used when the full ladder replaces the growing first rung or a direct-played original.
   *
   * From hls.js to hls.js (growing rung → full ladder) the MediaSource itself is handed to the
   * new instance (``transferMedia``, the mechanism hls.js uses for in-place interstitials): what
   * is buffered stays and keeps playing, and the ladder's rungs take over ~11 s ahead
   * (planTransfer: the rest of the inherited buffer is dropped). From a direct-played original, the
   * ladder loads into a standby element that takes over at the playhead (`ladderswitch.ts`).
   * Destroying and re-attaching instead empties the element and stalls playback while the new
   * master, playlist and first segment load (measured: 160–200 ms).
   */
  async switchToHls(hlsUrl: string, storyboardUrl?: string | null): Promise<void> {
    if (this.destroyed) return;
    // a video watched to its end starts over on the ladder (paused); else same position and state
    const ended = this.video.ended;
    const at = ended ? 0 : this.video.currentTime || 0;
    const playing = !this.video.paused && !ended;
    const previous = this.hls;
    this.opts.hlsUrl = hlsUrl;
    if (storyboardUrl && !this.tiles.length) void this.loadStoryboard(storyboardUrl);
    if (!previous && !ended && this.el.dataset.engine === "direct" && (await this.handOverFromDirect(hlsUrl))) return;
    if (this.destroyed) return;
    const estimate = previous?.bandwidthEstimate;
    let trimFrom: number | null = null;
    if (previous && !ended) {
      const details = previous.levels[previous.currentLevel]?.details;
      const streamEnd = details && !details.live ? details.totalduration : this.video.duration;
      const plan = planTransfer(at, this.video.playbackRate, bufferedEndAt(this.video, at), streamEnd);
      if (plan.kind === "defer") {
        // the rest is buffered already: the ladder takes over at the end (ready for a replay)
        this.video.addEventListener("ended", () => void this.switchToHls(hlsUrl, storyboardUrl), { once: true });
        return;
      }
      if (plan.kind === "trim") trimFrom = plan.from;
    }
    this.hls = null;
    const transfer = previous && !ended ? previous.transferMedia() : null;
    previous?.destroy();
    if (transfer?.mediaSource && trimFrom !== null) {
      try {
        await trimSourceBuffers(transfer.mediaSource, trimFrom);
      } catch {
        /* what could not be removed is played as it is */
      }
    }
    if (this.destroyed) return;
    await this.attachHls(hlsUrl, at, playing && !transfer, transfer, estimate);
  }

  /** The ladder in a standby element, swapped in at the playhead; false (nothing changed) if it could not be. */
  private async handOverFromDirect(hlsUrl: string): Promise<boolean> {
    const mod: HlsModule = await import("hls.js");
    const Hls = mod.default;
    if (this.destroyed || !Hls.isSupported()) return false;
    const old = this.current;
    const standby = this.makeVideo();
    standby.classList.add("standby");
    standby.setAttribute("aria-hidden", "true");
    old.after(standby);
    const lead = old.paused ? 0 : HANDOVER_LEAD_SECONDS * old.playbackRate;
    // the original played at its own bitrate, so start on the best rung the player size allows
    const hls = this.newHls(Hls, { startPosition: old.currentTime + lead, abrEwmaDefaultEstimate: 50_000_000 });
    hls.loadSource(hlsUrl);
    hls.attachMedia(standby);
    const ok = await handOver(old, standby, () => this.destroyed || this.current !== old);
    if (!ok || this.destroyed || this.current !== old) {
      hls.destroy();
      standby.remove();
      return false;
    }
    this.hls = hls;
    this.current = standby;
    this.bindVideo(standby);
    standby.classList.remove("standby");
    standby.removeAttribute("aria-hidden");
    this.el.dataset.engine = "hls.js";
    old.remove();
    release(old);
    this.syncState();
    this.syncTime();
    this.syncVolume();
    return true;
  }

  /** An hls.js instance wired to this player's quality menu, status attributes and error message. */
  private newHls(Hls: HlsModule["default"], config: Partial<HlsInstance["config"]>): HlsInstance {
    // capLevelToPlayerSize: no 1080p segments for a 600 px player; startFragPrefetch: the first
    // segment loads while the media element is still attaching
    const hls = new Hls({ capLevelToPlayerSize: true, maxBufferLength: 30, enableWorker: true, startFragPrefetch: true, ...config });
    const active = () => this.hls === hls;
    hls.on(Hls.Events.MANIFEST_PARSED, (_e, data) => {
      const levels = data.levels
        .map((l, i) => ({ i, height: l.height, bitrate: l.bitrate }))
        .sort((a, b) => b.height - a.height);
      this.quality.replaceChildren(
        h("option", { value: "-1" }, "Auto"),
        ...levels.map((l) => h("option", { value: String(l.i) }, l.height ? `${l.height}p` : `${Math.round(l.bitrate / 1000)} kb/s`)),
      );
      this.quality.disabled = levels.length < 2;
      this.el.dataset.levels = String(levels.length);
    });
    hls.on(Hls.Events.LEVEL_LOADED, (_e, data) => {
      if (active()) this.el.dataset.live = data.details.live ? "1" : "0"; // EVENT playlist still growing
    });
    hls.on(Hls.Events.LEVEL_SWITCHED, (_e, data) => {
      const level = hls.levels[data.level];
      this.el.dataset.level = level ? String(level.height) : "";
      const auto = this.quality.options[0];
      if (auto) auto.textContent = hls.autoLevelEnabled && level?.height ? `Auto (${level.height}p)` : "Auto";
    });
    let mediaRecoveries = 0;
    hls.on(Hls.Events.ERROR, (_e, data) => {
      if (!data.fatal || !active()) return; // a standby's failure only cancels its hand-over
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR && mediaRecoveries++ < 2) {
        hls.recoverMediaError();
      } else if (data.type === Hls.ErrorTypes.NETWORK_ERROR && mediaRecoveries++ < 3) {
        hls.startLoad();
      } else {
        this.showMessage(`Playback failed: ${data.details}${data.response?.code ? ` (HTTP ${data.response.code})` : ""}.`);
        this.el.dataset.error = data.details;
      }
    });
    return hls;
  }

  private async attachHls(
    hlsUrl: string,
    startPosition: number,
    autoplay: boolean,
    transfer: AttachMediaSourceData | null = null,
    bandwidthEstimate?: number,
  ): Promise<void> {
    const nativeHls = this.video.canPlayType("application/vnd.apple.mpegurl") !== "";
    const mod: HlsModule = await import("hls.js");
    if (this.destroyed) return;
    const Hls = mod.default;
    if (Hls.isSupported()) {
      // hls.js over MSE where available: quality selection and the same behaviour everywhere.
      // startPosition: a growing EVENT playlist is played from its start, not its live edge.
      const estimate = bandwidthEstimate && Number.isFinite(bandwidthEstimate) ? { abrEwmaDefaultEstimate: bandwidthEstimate } : {};
      const hls = this.newHls(Hls, { startPosition, ...estimate });
      this.hls = hls;
      this.el.dataset.engine = "hls.js";
      hls.loadSource(hlsUrl);
      hls.attachMedia(transfer ?? this.video);
    } else if (nativeHls) {
      this.el.dataset.engine = "native";
      this.video.src = hlsUrl;
      if (startPosition > 0) this.video.addEventListener("loadedmetadata", () => (this.video.currentTime = startPosition), { once: true });
    } else {
      this.showMessage("This browser can't play HLS video. Download the original instead.");
      return;
    }
    if (autoplay) {
      this.video.play().catch(() => this.syncState());
    }
  }

  private async loadStoryboard(url: string): Promise<void> {
    try {
      const res = await fetch(url);
      if (!res.ok) return;
      this.tiles = parseStoryboard(await res.text(), url);
      if (this.tiles.length) {
        this.el.dataset.storyboard = String(this.tiles.length);
        const img = new Image();
        img.src = this.tiles[0].url; // warm the sprite
      }
    } catch {
      /* no storyboard: the seek bar still works */
    }
  }

  private showMessage(text: string): void {
    this.message.hidden = false;
    this.message.textContent = text;
    this.el.classList.add("has-error");
  }

  toggle(): void {
    if (this.video.paused || this.video.ended) void this.video.play().catch(() => undefined);
    else this.video.pause();
  }

  seekBy(seconds: number): void {
    const d = this.video.duration || 0;
    this.video.currentTime = Math.max(0, Math.min(d || Infinity, this.video.currentTime + seconds));
    this.syncTime();
  }

  fullscreen(): void {
    if (document.fullscreenElement) void document.exitFullscreen();
    else void this.el.requestFullscreen?.().catch(() => undefined);
  }

  private wake(): void {
    this.el.classList.add("awake");
    if (this.hideTimer) clearTimeout(this.hideTimer);
    this.hideTimer = setTimeout(() => this.el.classList.remove("awake"), 2500);
  }

  private syncState(): void {
    const paused = this.video.paused || this.video.ended;
    this.el.classList.toggle("paused", paused);
    this.playBtn.replaceChildren(icon(paused ? icons.play : icons.pause));
    this.playBtn.setAttribute("aria-label", paused ? "Play" : "Pause");
    this.playBtn.title = paused ? "Play (k)" : "Pause (k)";
  }

  private syncVolume(): void {
    const muted = this.video.muted || this.video.volume === 0;
    this.muteBtn.replaceChildren(icon(muted ? icons.mute : icons.volume));
    this.muteBtn.setAttribute("aria-label", muted ? "Unmute" : "Mute");
    this.volume.value = String(muted ? 0 : this.video.volume);
  }

  private syncTime(): void {
    const v = this.video;
    const d = Number.isFinite(v.duration) ? v.duration : 0;
    const t = v.currentTime;
    this.time.textContent = `${formatDuration(t)} / ${formatDuration(d)}`;
    const pct = d ? (t / d) * 100 : 0;
    this.played.style.width = `${pct}%`;
    this.handle.style.left = `${pct}%`;
    let end = 0;
    for (let i = 0; i < v.buffered.length; i++) if (v.buffered.start(i) <= t + 0.5) end = Math.max(end, v.buffered.end(i));
    this.buffered.style.width = `${d ? (end / d) * 100 : 0}%`;
    this.seek.setAttribute("aria-valuemax", String(Math.round(d)));
    this.seek.setAttribute("aria-valuenow", String(Math.round(t)));
    this.seek.setAttribute("aria-valuetext", `${formatDuration(t)} of ${formatDuration(d)}`);
  }

  private timeAt(clientX: number): number {
    const rect = this.seek.getBoundingClientRect();
    const ratio = Math.max(0, Math.min(1, (clientX - rect.left) / Math.max(1, rect.width)));
    return ratio * (Number.isFinite(this.video.duration) ? this.video.duration : 0);
  }

  private showPreview(clientX: number): void {
    const d = this.video.duration;
    if (!Number.isFinite(d) || !d) return;
    const t = this.timeAt(clientX);
    const rect = this.seek.getBoundingClientRect();
    const tile = tileAt(this.tiles, t);
    this.preview.hidden = false;
    this.previewTime.textContent = formatDuration(t);
    if (tile) {
      this.preview.classList.add("with-image");
      Object.assign(this.previewImg.style, {
        width: `${tile.w}px`,
        height: `${tile.h}px`,
        backgroundImage: `url("${tile.url}")`,
        backgroundPosition: `-${tile.x}px -${tile.y}px`,
      });
    }
    const w = tile ? tile.w : 60;
    const x = Math.max(w / 2, Math.min(rect.width - w / 2, clientX - rect.left));
    this.preview.style.left = `${x}px`;
  }

  private bindSeek(): void {
    const s = this.seek;
    s.addEventListener("pointermove", (e) => {
      this.showPreview(e.clientX);
      if (this.scrubbing) this.video.currentTime = this.timeAt(e.clientX);
    });
    s.addEventListener("pointerleave", () => {
      if (!this.scrubbing) this.preview.hidden = true;
    });
    s.addEventListener("pointerdown", (e) => {
      this.scrubbing = true;
      s.setPointerCapture(e.pointerId);
      this.video.currentTime = this.timeAt(e.clientX);
      this.showPreview(e.clientX);
    });
    const end = () => {
      this.scrubbing = false;
      this.preview.hidden = true;
    };
    s.addEventListener("pointerup", end);
    s.addEventListener("pointercancel", end);
    s.addEventListener("keydown", (e) => {
      const d = this.video.duration || 0;
      const steps: Record<string, number> = { ArrowLeft: -5, ArrowRight: 5, ArrowDown: -5, ArrowUp: 5, PageDown: -d / 10, PageUp: d / 10 };
      if (e.key in steps) {
        this.seekBy(steps[e.key]);
      } else if (e.key === "Home") {
        this.video.currentTime = 0;
      } else if (e.key === "End") {
        this.video.currentTime = Math.max(0, d - 0.1);
      } else {
        return;
      }
      e.preventDefault();
      e.stopPropagation(); // arrows here seek; they don't change the file
    });
  }

  /** Keys the viewer forwards (k/space, j/l, m, f). Returns true when handled. */
  handleKey(e: KeyboardEvent): boolean {
    switch (e.key.toLowerCase()) {
      case "k":
      case " ":
        this.toggle();
        return true;
      case "j":
        this.seekBy(-10);
        return true;
      case "l":
        this.seekBy(10);
        return true;
      case "m":
        this.video.muted = !this.video.muted;
        return true;
      case "f":
        this.fullscreen();
        return true;
      default:
        return false;
    }
  }

  destroy(): void {
    this.destroyed = true;
    if (this.hideTimer) clearTimeout(this.hideTimer);
    this.hls?.destroy();
    this.hls = null;
    release(this.video);
    this.el.remove();
  }
}

/** Stop a video element and let it drop its source (and the connection or MediaSource behind it). */
function release(v: HTMLVideoElement): void {
  v.pause();
  v.removeAttribute("src");
  v.load();
}
