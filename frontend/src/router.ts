/**
 * Hash routes of the web app, parsed and formatted in one place so deep links, Back/Forward
 * and reload all go through the same code. Pure: no DOM, no history (app.ts owns those).
 */

/** Which list of files a page shows. */
export type Scope = { kind: "all" } | { kind: "favourites" } | { kind: "trash" } | { kind: "album"; albumId: string };

export type Route =
  | { page: "files"; scope: Scope; fileId: string | null }
  | { page: "albums" }
  | { page: "admin" }
  | { page: "share"; token: string; fileId: string | null };

const ID = /^[A-Za-z0-9_-]{1,128}$/;

function seg(raw: string | undefined): string | null {
  if (raw === undefined) return null;
  let s: string;
  try {
    s = decodeURIComponent(raw);
  } catch {
    return null;
  }
  return ID.test(s) ? s : null;
}

const LIBRARY: Route = { page: "files", scope: { kind: "all" }, fileId: null };

/** A route from `location.hash` ("#/albums/x", "", "#/s/tok/files/y"…); unknown → the library. */
export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, "").replace(/[?].*$/, "");
  const parts = path.split("/").filter(Boolean);
  const [head, a, b, c] = parts;
  const withFile = (scope: Scope, rest: string[]): Route => {
    if (rest.length === 0) return { page: "files", scope, fileId: null };
    if (rest.length === 2 && rest[0] === "files") {
      const fid = seg(rest[1]);
      if (fid) return { page: "files", scope, fileId: fid };
    }
    return { page: "files", scope, fileId: null };
  };
  switch (head) {
    case undefined:
      return LIBRARY;
    case "files": {
      const fid = seg(a);
      return fid && parts.length === 2 ? { page: "files", scope: { kind: "all" }, fileId: fid } : LIBRARY;
    }
    case "favourites":
      return withFile({ kind: "favourites" }, parts.slice(1));
    case "trash":
      return withFile({ kind: "trash" }, parts.slice(1));
    case "albums": {
      if (a === undefined) return { page: "albums" };
      const id = seg(a);
      if (!id) return { page: "albums" };
      return withFile({ kind: "album", albumId: id }, parts.slice(2));
    }
    case "admin":
      return { page: "admin" };
    case "s": {
      const token = seg(a);
      if (!token) return LIBRARY;
      const fid = b === "files" ? seg(c) : null;
      return { page: "share", token, fileId: fid && parts.length === 4 ? fid : null };
    }
    default:
      return LIBRARY;
  }
}

function scopePath(scope: Scope): string {
  switch (scope.kind) {
    case "all":
      return "";
    case "favourites":
      return "/favourites";
    case "trash":
      return "/trash";
    case "album":
      return `/albums/${encodeURIComponent(scope.albumId)}`;
  }
}

/** The hash ("#/…") for a route; parseRoute(formatRoute(r)) equals r. */
export function formatRoute(route: Route): string {
  switch (route.page) {
    case "albums":
      return "#/albums";
    case "admin":
      return "#/admin";
    case "share":
      return `#/s/${encodeURIComponent(route.token)}${route.fileId ? `/files/${encodeURIComponent(route.fileId)}` : ""}`;
    case "files": {
      const base = scopePath(route.scope);
      if (route.fileId) return `#${base}/files/${encodeURIComponent(route.fileId)}`;
      return `#${base || "/"}`;
    }
  }
}

export function sameScope(a: Scope, b: Scope): boolean {
  return a.kind === b.kind && (a.kind !== "album" || a.albumId === (b as { albumId: string }).albumId);
}

/** The same page without the open file (what closing the viewer goes back to). */
export function withoutFile(route: Route): Route {
  if (route.page === "files" || route.page === "share") return { ...route, fileId: null };
  return route;
}
