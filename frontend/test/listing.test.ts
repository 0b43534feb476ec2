import { describe, expect, it } from "vitest";
import { comparator, DEFAULT_QUERY, isFiltered, matchesQuery, queryParams, sameQuery, scopeQuery } from "../src/listing";
import type { FileItem } from "../src/types";

const f = (id: string, extra: Partial<FileItem> = {}): FileItem =>
  ({ id, name: `${id}.jpg`, size: 1, type: "image", processing_status: "completed", created_at: "2024-01-01 00:00:00", taken_at: null, ...extra }) as FileItem;

describe("list query", () => {
  it("sends only what differs from the defaults", () => {
    expect(queryParams(DEFAULT_QUERY)).toEqual({});
    const q = { ...DEFAULT_QUERY, sort: "taken" as const, order: "asc" as const, ...scopeQuery({ kind: "album", albumId: "A" }), camera_make: "Canon", taken_from: "2024-01-01", q: "  x " };
    expect(queryParams(q)).toEqual({ sort: "taken", order: "asc", album: "A", camera_make: "Canon", taken_from: "2024-01-01", q: "x" });
    expect(queryParams({ ...DEFAULT_QUERY, ...scopeQuery({ kind: "trash" }) })).toEqual({ trashed: "true" });
    expect(queryParams({ ...DEFAULT_QUERY, ...scopeQuery({ kind: "favourites" }) })).toEqual({ favourite: "true" });
  });

  it("a sort or order change is a new list (the cursor must reset)", () => {
    expect(sameQuery(DEFAULT_QUERY, { ...DEFAULT_QUERY })).toBe(true);
    expect(sameQuery(DEFAULT_QUERY, { ...DEFAULT_QUERY, sort: "name" })).toBe(false);
    expect(sameQuery(DEFAULT_QUERY, { ...DEFAULT_QUERY, order: "asc" })).toBe(false);
    expect(sameQuery(DEFAULT_QUERY, { ...DEFAULT_QUERY, q: "  " })).toBe(true);
    expect(isFiltered(DEFAULT_QUERY)).toBe(false);
    expect(isFiltered({ ...DEFAULT_QUERY, lens: "50mm" })).toBe(true);
    expect(isFiltered({ ...DEFAULT_QUERY, favourite: true })).toBe(false); // scope, not a filter
  });

  it("orders like the server for each sort, both directions", () => {
    const a = f("a", { name: "b.jpg", size: 5, created_at: "2024-01-02", taken_at: "2023-05-01T00:00:00Z" });
    const b = f("b", { name: "A.jpg", size: 9, created_at: "2024-01-03", taken_at: null });
    const c = f("c", { name: "c.jpg", size: 5, created_at: "2024-01-01", taken_at: "2023-06-01T00:00:00Z" });
    const ids = (sort: Parameters<typeof comparator>[0], order: Parameters<typeof comparator>[1]) => [a, b, c].sort(comparator(sort, order)).map((x) => x.id);
    expect(ids("uploaded", "desc")).toEqual(["b", "a", "c"]);
    expect(ids("uploaded", "asc")).toEqual(["c", "a", "b"]);
    expect(ids("name", "asc")).toEqual(["b", "a", "c"]);
    expect(ids("size", "desc")).toEqual(["b", "c", "a"]);
    expect(ids("size", "asc")).toEqual(["a", "c", "b"]);
    expect(ids("taken", "desc")).toEqual(["c", "a", "b"]); // undated last
    expect(ids("taken", "asc")).toEqual(["a", "c", "b"]); // undated last in both orders
  });

  it("matches scope and filters on the client", () => {
    const q = DEFAULT_QUERY;
    expect(matchesQuery(f("a"), q)).toBe(true);
    expect(matchesQuery(f("a", { trashed_at: "2024-01-01" }), q)).toBe(false);
    expect(matchesQuery(f("a", { trashed_at: "2024-01-01" }), { ...q, trashed: true })).toBe(true);
    expect(matchesQuery(f("a"), { ...q, favourite: true })).toBe(false);
    expect(matchesQuery(f("a", { favourite: true }), { ...q, favourite: true })).toBe(true);
    expect(matchesQuery(f("a", { album_ids: ["x"] }), { ...q, album: "y" })).toBe(false);
    expect(matchesQuery(f("a", { camera_make: "Sony" }), { ...q, camera_make: "Canon" })).toBe(false);
    const dated = f("a", { taken_at: "2024-03-05T10:00:00Z" });
    expect(matchesQuery(dated, { ...q, taken_from: "2024-03-05", taken_to: "2024-03-05" })).toBe(true);
    expect(matchesQuery(dated, { ...q, taken_from: "2024-03-06" })).toBe(false);
    expect(matchesQuery(f("a"), { ...q, taken_to: "2030-01-01" })).toBe(false);
  });
});
