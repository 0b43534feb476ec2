/** A small client for the Mediagate JSON API: bearer token, JSON errors, 401 and 429 handling. */

import { queryParams, type ListQuery } from "./listing";
import type { Album, AlbumPage, Facets, NewShare, PublicShare, Share } from "./orgtypes";
import type { AdminStats, DownloadLink, FileItem, FilePage, Filters, Preview } from "./types";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export interface ApiOptions {
  base?: string;
  token: () => string | null;
  /** Called on 401 (expired or invalid token) before the error is thrown. */
  onUnauthorized?: (message: string) => void;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
  maxRetries?: number;
}

type Query = Record<string, string | number | undefined | null>;

export const MAX_BULK = 500;

function buildQuery(query?: Query): string {
  if (!query) return "";
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== null && v !== "") params.set(k, String(v));
  }
  const s = params.toString();
  return s ? `?${s}` : "";
}

/** Seconds from a Retry-After header (delta-seconds or HTTP date), bounded. */
export function retryAfterMs(header: string | null, fallbackMs: number, now: number = Date.now()): number {
  if (!header) return fallbackMs;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, Math.min(seconds * 1000, 30_000));
  const date = Date.parse(header);
  if (!Number.isNaN(date)) return Math.max(0, Math.min(date - now, 30_000));
  return fallbackMs;
}

async function errorMessage(res: Response): Promise<string> {
  try {
    const body = await res.clone().json();
    if (body && typeof body.error === "string") return body.error;
  } catch {
    /* not JSON */
  }
  return `${res.status} ${res.statusText || "request failed"}`.trim();
}

/** Items carry the display name as `filename` (issue 11) and/or `name`; the client reads `name`. */
export function normalizeItem(item: FileItem): FileItem {
  if (typeof item.filename === "string" && item.filename) item.name = item.filename;
  else if (item.name && item.filename === undefined) item.filename = item.name;
  return item;
}

function normalizePage(page: FilePage): FilePage {
  page.items.forEach(normalizeItem);
  return page;
}

const enc = encodeURIComponent;

export class Api {
  readonly base: string;
  private readonly opts: ApiOptions;
  private readonly fetchImpl: typeof fetch;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(opts: ApiOptions) {
    this.opts = opts;
    this.base = (opts.base ?? "").replace(/\/$/, "");
    this.fetchImpl = opts.fetch ?? ((input, init) => fetch(input, init));
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  url(path: string, query?: Query): string {
    return `${this.base}${path}${buildQuery(query)}`;
  }

  authHeaders(): Record<string, string> {
    const token = this.opts.token();
    return token ? { Authorization: `Bearer ${token}` } : {};
  }

  /** The raw response (ok), after 429 retries; throws ApiError otherwise. */
  async raw(method: string, path: string, init: { query?: Query; body?: unknown; signal?: AbortSignal } = {}): Promise<Response> {
    const headers: Record<string, string> = { Accept: "application/json", ...this.authHeaders() };
    let body: BodyInit | undefined;
    if (init.body !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(init.body);
    }
    const retries = this.opts.maxRetries ?? 3;
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        res = await this.fetchImpl(this.url(path, init.query), { method, headers, body, signal: init.signal });
      } catch (err) {
        if ((err as Error).name === "AbortError") throw err;
        throw new ApiError(0, "The server could not be reached. Check your connection.");
      }
      if (res.ok) return res;
      if (res.status === 429 && attempt < retries) {
        await this.sleep(retryAfterMs(res.headers.get("Retry-After"), 1000 * 2 ** attempt));
        continue;
      }
      const message = await errorMessage(res);
      if (res.status === 401) this.opts.onUnauthorized?.(message);
      throw new ApiError(res.status, message);
    }
  }

  async json<T>(method: string, path: string, init: { query?: Query; body?: unknown; signal?: AbortSignal } = {}): Promise<T> {
    const res = await this.raw(method, path, init);
    if (res.status === 204) return undefined as T;
    return (await res.json()) as T;
  }

  async listFiles(filters: Partial<Filters> | ListQuery, cursor: string | null, limit = 100, signal?: AbortSignal): Promise<FilePage> {
    const params = "sort" in filters ? queryParams(filters as ListQuery) : { type: filters.type, status: filters.status, q: filters.q?.trim() };
    return normalizePage(await this.json<FilePage>("GET", "/api/files", { query: { limit, cursor, ...params }, signal }));
  }

  async getFile(id: string, signal?: AbortSignal): Promise<FileItem> {
    return normalizeItem(await this.json<FileItem>("GET", `/api/files/${enc(id)}`, { signal }));
  }

  // ---- organize (issue 11) ----

  async patchFile(id: string, body: { filename?: string; favourite?: boolean }): Promise<FileItem> {
    return normalizeItem(await this.json<FileItem>("PATCH", `/api/files/${enc(id)}`, { body }));
  }

  facets(signal?: AbortSignal): Promise<Facets> {
    return this.json<Facets>("GET", "/api/files/facets", { signal });
  }

  /** Move to the trash (restorable). */
  async trashFiles(ids: string[]): Promise<number> {
    let n = 0;
    for (let i = 0; i < ids.length; i += MAX_BULK) {
      const r = await this.json<{ trashed?: number; deleted?: string[] }>("POST", "/api/files/bulk-delete", { body: { ids: ids.slice(i, i + MAX_BULK) } });
      n += r.trashed ?? r.deleted?.length ?? 0;
    }
    return n;
  }

  async restoreFiles(ids: string[]): Promise<number> {
    let n = 0;
    for (let i = 0; i < ids.length; i += MAX_BULK) {
      n += (await this.json<{ restored: number }>("POST", "/api/files/bulk-restore", { body: { ids: ids.slice(i, i + MAX_BULK) } })).restored;
    }
    return n;
  }

  async purgeFiles(ids: string[]): Promise<number> {
    let n = 0;
    for (let i = 0; i < ids.length; i += MAX_BULK) {
      n += (await this.json<{ purged: number }>("POST", "/api/files/bulk-purge", { body: { ids: ids.slice(i, i + MAX_BULK) } })).purged;
    }
    return n;
  }

  async emptyTrash(): Promise<number> {
    return (await this.json<{ purged: number }>("POST", "/api/trash/empty")).purged;
  }

  listAlbums(cursor: string | null = null, limit = 200, signal?: AbortSignal): Promise<AlbumPage> {
    return this.json<AlbumPage>("GET", "/api/albums", { query: { cursor, limit }, signal });
  }

  getAlbum(id: string, signal?: AbortSignal): Promise<Album> {
    return this.json<Album>("GET", `/api/albums/${enc(id)}`, { signal });
  }

  createAlbum(name: string): Promise<Album> {
    return this.json<Album>("POST", "/api/albums", { body: { name } });
  }

  patchAlbum(id: string, body: { name?: string; cover_file_id?: string | null }): Promise<Album> {
    return this.json<Album>("PATCH", `/api/albums/${enc(id)}`, { body });
  }

  deleteAlbum(id: string): Promise<void> {
    return this.json<void>("DELETE", `/api/albums/${enc(id)}`);
  }

  async addToAlbum(id: string, ids: string[]): Promise<number> {
    let n = 0;
    for (let i = 0; i < ids.length; i += MAX_BULK) {
      n += (await this.json<{ added: number }>("POST", `/api/albums/${enc(id)}/files`, { body: { ids: ids.slice(i, i + MAX_BULK) } })).added;
    }
    return n;
  }

  async removeFromAlbum(id: string, ids: string[]): Promise<number> {
    let n = 0;
    for (let i = 0; i < ids.length; i += MAX_BULK) {
      n += (await this.json<{ removed: number }>("POST", `/api/albums/${enc(id)}/files/remove`, { body: { ids: ids.slice(i, i + MAX_BULK) } })).removed;
    }
    return n;
  }

  createShare(body: NewShare): Promise<Share> {
    return this.json<Share>("POST", "/api/shares", { body });
  }

  async listShares(target: { file_id?: string; album_id?: string }): Promise<Share[]> {
    return (await this.json<{ items: Share[] }>("GET", "/api/shares", { query: target })).items;
  }

  revokeShare(id: string): Promise<void> {
    return this.json<void>("DELETE", `/api/shares/${enc(id)}`);
  }

  preview(id: string, signal?: AbortSignal): Promise<Preview> {
    return this.json<Preview>("GET", `/api/files/${encodeURIComponent(id)}/preview`, { signal });
  }

  download(id: string): Promise<DownloadLink> {
    return this.json<DownloadLink>("GET", `/api/files/${encodeURIComponent(id)}/download`);
  }

  async deleteFiles(ids: string[]): Promise<{ deleted: string[]; not_found: string[] }> {
    const out = { deleted: [] as string[], not_found: [] as string[] };
    for (let i = 0; i < ids.length; i += MAX_BULK) {
      const part = await this.json<{ deleted: string[]; not_found: string[] }>("POST", "/api/files/bulk-delete", {
        body: { ids: ids.slice(i, i + MAX_BULK) },
      });
      out.deleted.push(...part.deleted);
      out.not_found.push(...part.not_found);
    }
    return out;
  }

  batchZip(ids: string[], signal?: AbortSignal): Promise<Response> {
    return this.raw("POST", "/api/files/batch-download", { body: { ids, mode: "zip" }, signal });
  }

  adminStats(signal?: AbortSignal): Promise<AdminStats> {
    return this.json<AdminStats>("GET", "/api/admin/stats", { signal });
  }

  retryJob(jobId: string): Promise<unknown> {
    return this.json("POST", `/api/admin/jobs/${encodeURIComponent(jobId)}/retry`);
  }
}

/** The public share endpoints (no token; /api/public/shares/<token>/…). */
export class PublicApi {
  constructor(
    private readonly api: Api,
    readonly token: string,
  ) {}

  private path(rest = ""): string {
    return `/api/public/shares/${enc(this.token)}${rest}`;
  }

  async share(signal?: AbortSignal): Promise<PublicShare> {
    const s = await this.api.json<PublicShare>("GET", this.path(), { signal });
    if (s.file) normalizeItem(s.file);
    return s;
  }

  async listFiles(q: Pick<ListQuery, "sort" | "order">, cursor: string | null, limit = 100, signal?: AbortSignal): Promise<FilePage> {
    const query = { cursor, limit, sort: q.sort === "uploaded" ? undefined : q.sort, order: q.order === "desc" ? undefined : q.order };
    return normalizePage(await this.api.json<FilePage>("GET", this.path("/files"), { query, signal }));
  }

  async getFile(id: string, signal?: AbortSignal): Promise<FileItem> {
    return normalizeItem(await this.api.json<FileItem>("GET", this.path(`/files/${enc(id)}`), { signal }));
  }
}
