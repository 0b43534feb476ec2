/**
 * What a file list asks the server for: scope (library, favourites, album, trash), sort and
 * filters, as GET /api/files query parameters, plus the client-side order and match rules
 * that keep live updates (upserts) consistent with the server's keyset order.
 */

import type { Scope } from "./router";
import type { FileItem, FileType, ProcessingStatus } from "./types";

export type SortKey = "uploaded" | "taken" | "name" | "size";
export type SortOrder = "desc" | "asc";
export type Grouping = "none" | "day" | "month";

export interface ListQuery {
  type: FileType | "";
  status: ProcessingStatus | "";
  q: string;
  sort: SortKey;
  order: SortOrder;
  favourite: boolean;
  album: string | null;
  trashed: boolean;
  camera_make: string;
  camera_model: string;
  lens: string;
  /** ISO dates (yyyy-mm-dd), inclusive. */
  taken_from: string;
  taken_to: string;
}

export const DEFAULT_QUERY: ListQuery = {
  type: "",
  status: "",
  q: "",
  sort: "uploaded",
  order: "desc",
  favourite: false,
  album: null,
  trashed: false,
  camera_make: "",
  camera_model: "",
  lens: "",
  taken_from: "",
  taken_to: "",
};

const SORTS: readonly SortKey[] = ["uploaded", "taken", "name", "size"];

export function isSortKey(v: string): v is SortKey {
  return (SORTS as readonly string[]).includes(v);
}

/** The scope's part of the query (everything else is kept). */
export function scopeQuery(scope: Scope): Pick<ListQuery, "favourite" | "album" | "trashed"> {
  return {
    favourite: scope.kind === "favourites",
    album: scope.kind === "album" ? scope.albumId : null,
    trashed: scope.kind === "trash",
  };
}

/** Query-string parameters for GET /api/files (defaults and empty values left out). */
export function queryParams(q: ListQuery): Record<string, string> {
  const out: Record<string, string> = {};
  if (q.type) out.type = q.type;
  if (q.status) out.status = q.status;
  if (q.q.trim()) out.q = q.q.trim();
  if (q.sort !== "uploaded") out.sort = q.sort;
  if (q.order !== "desc") out.order = q.order;
  if (q.favourite) out.favourite = "true";
  if (q.album) out.album = q.album;
  if (q.trashed) out.trashed = "true";
  if (q.camera_make) out.camera_make = q.camera_make;
  if (q.camera_model) out.camera_model = q.camera_model;
  if (q.lens) out.lens = q.lens;
  if (q.taken_from) out.taken_from = q.taken_from;
  if (q.taken_to) out.taken_to = q.taken_to;
  return out;
}

/** Two queries ask for the same list (a cursor from one is valid for the other). */
export function sameQuery(a: ListQuery, b: ListQuery): boolean {
  const pa = queryParams(a);
  const pb = queryParams(b);
  const keys = new Set([...Object.keys(pa), ...Object.keys(pb)]);
  return [...keys].every((k) => pa[k] === pb[k]);
}

/** Is any filter narrowing the list (beyond the scope)? */
export function isFiltered(q: ListQuery): boolean {
  return !!(q.q.trim() || q.type || q.status || q.camera_make || q.camera_model || q.lens || q.taken_from || q.taken_to);
}

type Sortable = Pick<FileItem, "id" | "created_at" | "name" | "size"> & { taken_at?: string | null };

function cmp<T extends string | number>(a: T, b: T): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The server's keyset order for a sort, as a comparator (negative: `a` comes first).
 * Ties break on id in the sort's direction; under "taken", files without a date come last
 * in both directions, ordered by upload time.
 */
export function comparator(sort: SortKey, order: SortOrder): (a: Sortable, b: Sortable) => number {
  const dir = order === "asc" ? 1 : -1;
  return (a, b) => {
    let c = 0;
    if (sort === "taken") {
      const ta = a.taken_at ?? null;
      const tb = b.taken_at ?? null;
      if (ta && !tb) return -1;
      if (!ta && tb) return 1;
      c = ta && tb ? cmp(ta, tb) : cmp(a.created_at, b.created_at);
    } else if (sort === "name") {
      c = cmp(a.name.toLowerCase(), b.name.toLowerCase());
    } else if (sort === "size") {
      c = cmp(a.size, b.size);
    } else {
      c = cmp(a.created_at, b.created_at);
    }
    if (c === 0) c = cmp(a.id, b.id);
    return c * dir;
  };
}

function dateOnly(value: string): string {
  return value.slice(0, 10);
}

/** Does an item (as the client knows it) belong in this list? */
export function matchesQuery(item: FileItem, q: ListQuery): boolean {
  if (q.type && item.type !== q.type) return false;
  if (q.status && item.processing_status !== q.status) return false;
  if (q.q.trim() && !item.name.toLowerCase().includes(q.q.trim().toLowerCase())) return false;
  if (q.trashed !== !!item.trashed_at) return false;
  if (q.favourite && !item.favourite) return false;
  if (q.album && item.album_ids && !item.album_ids.includes(q.album)) return false;
  if (q.camera_make && item.camera_make !== q.camera_make) return false;
  if (q.camera_model && item.camera_model !== q.camera_model) return false;
  if (q.lens && item.lens !== q.lens) return false;
  if (q.taken_from || q.taken_to) {
    if (!item.taken_at) return false;
    const d = dateOnly(item.taken_at);
    if (q.taken_from && d < dateOnly(q.taken_from)) return false;
    if (q.taken_to && d > dateOnly(q.taken_to)) return false;
  }
  return true;
}
