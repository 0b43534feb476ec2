/**
 * The user's library as the grid sees it: pages of files (newest first), filters, live
 * updates while files process, and tiles for uploads still in flight.
 */

import { comparator, DEFAULT_QUERY, isFiltered, matchesQuery, sameQuery, type ListQuery } from "./listing";
import type { FileItem, FilePage, Filters, FileType } from "./types";

/** Where a library's pages come from: the signed-in API, or a public share. */
export interface ListSource {
  listFiles(q: ListQuery, cursor: string | null, limit?: number, signal?: AbortSignal): Promise<FilePage>;
  getFile(id: string, signal?: AbortSignal): Promise<FileItem>;
}

export interface UploadTile {
  key: string; // "upload:<uppy file id>"
  name: string;
  size: number;
  type: FileType;
  progress: number; // 0-100
  state: "uploading" | "paused" | "error" | "queued" | "done";
  error?: string;
  preview?: string; // object URL of a local thumbnail (images)
}

export type Entry = { kind: "file"; id: string; item: FileItem } | { kind: "upload"; id: string; upload: UploadTile };

const ACTIVE = new Set(["pending", "processing"]);
export const PAGE_SIZE = 100;

/** Newest first: (created_at, id) descending, like the server's keyset order. */
export function compareItems(a: Pick<FileItem, "created_at" | "id">, b: Pick<FileItem, "created_at" | "id">): number {
  if (a.created_at !== b.created_at) return a.created_at < b.created_at ? 1 : -1;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

export function matchesFilters(item: Pick<FileItem, "name" | "type" | "processing_status">, f: Filters): boolean {
  if (f.type && item.type !== f.type) return false;
  if (f.status && item.processing_status !== f.status) return false;
  if (f.q.trim() && !item.name.toLowerCase().includes(f.q.trim().toLowerCase())) return false;
  return true;
}

export function guessType(name: string, mime = ""): FileType {
  if (mime.startsWith("video/") || /\.(mp4|mov|m4v|mkv|webm|avi|mxf|mts|m2ts|3gp)$/i.test(name)) return "video";
  if (mime.startsWith("image/") || /\.(jpe?g|png|webp|gif|tiff?|heic|heif|avif|bmp|dng|cr2|cr3|nef|arw|raf|orf|rw2|exr)$/i.test(name))
    return "image";
  return "other";
}

export class Library {
  items: FileItem[] = [];
  private byId = new Map<string, FileItem>();
  uploads = new Map<string, UploadTile>();
  filters: ListQuery = { ...DEFAULT_QUERY };
  /** Files shown by id (deep links) that are not in the loaded pages. */
  private extras = new Map<string, FileItem>();
  nextCursor: string | null = null;
  loading = false;
  loadedOnce = false;
  error: string | null = null;
  private generation = 0;
  private abort: AbortController | null = null;
  private listeners = new Set<() => void>();
  private entriesCache: Entry[] | null = null;
  private pollTimer: ReturnType<typeof setTimeout> | null = null;
  private headTimer: ReturnType<typeof setInterval> | null = null;
  private polling = false;

  constructor(private readonly api: ListSource) {}

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(): void {
    this.entriesCache = null;
    for (const fn of this.listeners) fn();
  }

  get hasMore(): boolean {
    return this.nextCursor !== null;
  }

  get(id: string): FileItem | undefined {
    return this.byId.get(id) ?? this.extras.get(id);
  }

  /** Make a file known by id (a deep link to a file beyond the loaded pages). */
  adopt(item: FileItem): void {
    if (this.byId.has(item.id)) this.upsert(item, true);
    else {
      this.extras.set(item.id, item);
      this.emit();
    }
  }

  /** Update a known file (list or deep-linked) in place, e.g. after a rename or favourite. */
  patch(item: FileItem): void {
    const extra = this.extras.get(item.id);
    if (extra) {
      Object.assign(extra, item);
      this.emit();
    }
    if (this.byId.has(item.id) || matchesQuery(item, this.filters)) this.upsert(item);
  }

  /** Upload tiles first (in flight, newest first), then files. */
  entries(): Entry[] {
    if (this.entriesCache) return this.entriesCache;
    const out: Entry[] = [];
    const f = this.filters;
    const filtering = isFiltered(f) || f.favourite || f.trashed || !!f.album || f.sort !== "uploaded" || f.order !== "desc";
    for (const up of [...this.uploads.values()].reverse()) {
      if (filtering || (this.filters.type && this.filters.type !== up.type)) continue;
      out.push({ kind: "upload", id: up.key, upload: up });
    }
    for (const item of this.items) out.push({ kind: "file", id: item.id, item });
    this.entriesCache = out;
    return out;
  }

  fileIds(): string[] {
    return this.items.map((i) => i.id);
  }

  /** New filters/sort/scope: a different list, so the cursor starts over. */
  setFilters(next: Partial<ListQuery>): void {
    const merged = { ...this.filters, ...next };
    if (sameQuery(merged, this.filters) && (this.loadedOnce || this.loading)) return;
    this.filters = merged;
    void this.reload();
  }

  private order(a: FileItem, b: FileItem): number {
    return comparator(this.filters.sort, this.filters.order)(a, b);
  }

  async reload(): Promise<void> {
    this.generation++;
    this.abort?.abort();
    this.items = [];
    this.byId.clear();
    this.extras.clear();
    this.nextCursor = null;
    this.loadedOnce = false;
    this.loading = false;
    this.error = null;
    this.emit();
    await this.loadMore();
  }

  async loadMore(): Promise<void> {
    if (this.loading || (this.loadedOnce && !this.nextCursor)) return;
    const gen = this.generation;
    this.loading = true;
    this.error = null;
    this.abort = new AbortController();
    this.emit();
    try {
      const page = await this.api.listFiles(this.filters, this.nextCursor, PAGE_SIZE, this.abort.signal);
      if (gen !== this.generation) return;
      for (const item of page.items) {
        if (this.byId.has(item.id)) continue;
        this.byId.set(item.id, item);
        this.items.push(item);
      }
      this.nextCursor = page.next_cursor;
      this.loadedOnce = true;
      this.schedulePoll();
    } catch (err) {
      if ((err as Error).name === "AbortError" || gen !== this.generation) return;
      this.error = (err as Error).message;
    } finally {
      if (gen === this.generation) {
        this.loading = false;
        this.emit();
      }
    }
  }

  /** Load every remaining page (for select-all), up to `max` items. */
  async loadAll(max = 10_000): Promise<void> {
    while (this.nextCursor && this.items.length < max) {
      const before = this.items.length;
      await this.loadMore();
      if (this.error || this.items.length === before) break;
    }
  }

  /**
   * Insert or update one item, keeping newest-first order; items that no longer match the
   * filters leave. Signed thumbnail URLs change on every fetch: a known item keeps its URL
   * (so its image isn't reloaded) unless the file changed or `fresh` asks for a new one.
   */
  upsert(item: FileItem, fresh = false, listed = false): void {
    const known = this.byId.get(item.id);
    if (!matchesQuery(item, this.filters)) {
      if (known) this.remove([item.id]);
      return;
    }
    // An album list takes new files only when they are known to be in it (listed by the
    // server for this album, or carrying album_ids): a finished upload is not.
    if (!known && this.filters.album && !listed && !item.album_ids?.includes(this.filters.album)) return;
    if (known) {
      const next = { ...item };
      if (known.local_thumbnail && !next.thumbnail_url) next.local_thumbnail = known.local_thumbnail;
      if (!fresh && known.thumbnail_url && next.thumbnail_url && known.updated_at === next.updated_at) next.thumbnail_url = known.thumbnail_url;
      if (known.metadata && !next.metadata) next.metadata = known.metadata;
      const changed = (Object.keys(next) as (keyof FileItem)[]).some((k) => k !== "metadata" && known[k] !== next[k]);
      if (!changed) return;
      Object.assign(known, next);
      if (this.filters.sort !== "uploaded") this.items.sort((a, b) => this.order(a, b)); // a rename can move it
      this.emit();
      return;
    }
    const local = this.localThumbs.get(`${item.name}|${item.size}`);
    if (local && !item.thumbnail_url) item.local_thumbnail = local;
    const last = this.items[this.items.length - 1];
    if (this.nextCursor && last && this.order(item, last) > 0) return; // belongs to a page not loaded yet
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.order(this.items[mid], item) < 0) lo = mid + 1;
      else hi = mid;
    }
    this.items.splice(lo, 0, item);
    this.byId.set(item.id, item);
    this.emit();
    this.schedulePoll();
  }

  remove(ids: Iterable<string>): void {
    const gone = new Set(ids);
    if (!gone.size) return;
    this.items = this.items.filter((i) => !gone.has(i.id));
    for (const id of gone) {
      this.byId.delete(id);
      this.extras.delete(id);
    }
    this.emit();
  }

  /** name|size → object URL of the local thumbnail of an upload that just finished here. */
  readonly localThumbs = new Map<string, string>();

  /** Keep an upload's local thumbnail for its file row until the server's thumbnail arrives. */
  rememberLocalThumb(name: string, size: number, url: string): void {
    this.localThumbs.set(`${name}|${size}`, url);
    if (this.localThumbs.size > 200) this.localThumbs.delete(this.localThumbs.keys().next().value as string);
  }

  setUpload(tile: UploadTile): void {
    this.uploads.set(tile.key, tile);
    this.emit();
  }

  removeUpload(key: string): void {
    if (this.uploads.delete(key)) this.emit();
  }

  /** Fetch the newest page again: new files appear at the top, known ones update. */
  async refreshHead(): Promise<void> {
    if (!this.loadedOnce) return;
    const gen = this.generation;
    try {
      const page = await this.api.listFiles(this.filters, null, 50);
      if (gen !== this.generation) return;
      for (const item of page.items) this.upsert(item, false, true);
    } catch {
      /* transient: the next refresh tries again */
    }
  }

  /**
   * A file that just finished uploading in this tab, by id (the upload's last answer names
   * it): shown at once, without waiting for a list refresh. False when it could not be
   * fetched or does not belong in the current view (the caller falls back to refreshHead).
   */
  async arrive(id: string): Promise<boolean> {
    if (!this.loadedOnce) return false;
    try {
      this.upsert(await this.api.getFile(id));
    } catch {
      return false;
    }
    return this.byId.has(id);
  }

  activeIds(): string[] {
    return this.items.filter((i) => ACTIVE.has(i.processing_status)).map((i) => i.id);
  }

  /**
   * While anything processes, poll its status (bounded work per tick): every second while a
   * file waits for its first thumbnail or a video for playback (both come early), else 2 s.
   */
  schedulePoll(delay?: number): void {
    if (this.pollTimer || this.polling) return;
    if (!this.activeIds().length) return;
    const eager = this.items.some((i) => ACTIVE.has(i.processing_status) && (!i.thumbnail_url || (i.type === "video" && !i.playable)));
    this.pollTimer = setTimeout(() => {
      this.pollTimer = null;
      void this.pollActive();
    }, delay ?? (eager ? 1000 : 2000));
  }

  async pollActive(): Promise<void> {
    const active = this.activeIds();
    if (!active.length || this.polling) return;
    this.polling = true;
    try {
      const seen = new Set<string>();
      if (active.length > 12) {
        for (const status of ["processing", "pending"] as const) {
          const page = await this.api.listFiles({ ...this.filters, status }, null, 200);
          for (const item of page.items) {
            seen.add(item.id);
            if (this.byId.has(item.id)) this.upsert(item);
          }
        }
      }
      const changed = active.filter((id) => !seen.has(id)).slice(0, 12);
      const results = await Promise.allSettled(changed.map((id) => this.api.getFile(id)));
      results.forEach((r, i) => {
        if (r.status === "fulfilled") this.upsert(r.value);
        else if ((r.reason as { status?: number }).status === 404) this.remove([changed[i]]);
      });
    } catch {
      /* try again next tick */
    } finally {
      this.polling = false;
      this.schedulePoll();
    }
  }

  /** Periodic head refresh (new files from other tabs or devices). */
  startLive(intervalMs = 10_000): void {
    this.stopLive();
    this.headTimer = setInterval(() => {
      if (document.visibilityState === "visible") void this.refreshHead();
    }, intervalMs);
  }

  stopLive(): void {
    if (this.headTimer) clearInterval(this.headTimer);
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.headTimer = null;
    this.pollTimer = null;
  }
}
