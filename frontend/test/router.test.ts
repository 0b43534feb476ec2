import { describe, expect, it } from "vitest";
import { formatRoute, parseRoute, withoutFile, type Route } from "../src/router";

describe("router", () => {
  it("parses every documented route", () => {
    expect(parseRoute("")).toEqual({ page: "files", scope: { kind: "all" }, fileId: null });
    expect(parseRoute("#/")).toEqual({ page: "files", scope: { kind: "all" }, fileId: null });
    expect(parseRoute("#/files/abc")).toEqual({ page: "files", scope: { kind: "all" }, fileId: "abc" });
    expect(parseRoute("#/albums")).toEqual({ page: "albums" });
    expect(parseRoute("#/albums/al1")).toEqual({ page: "files", scope: { kind: "album", albumId: "al1" }, fileId: null });
    expect(parseRoute("#/albums/al1/files/f2")).toEqual({ page: "files", scope: { kind: "album", albumId: "al1" }, fileId: "f2" });
    expect(parseRoute("#/favourites")).toEqual({ page: "files", scope: { kind: "favourites" }, fileId: null });
    expect(parseRoute("#/trash")).toEqual({ page: "files", scope: { kind: "trash" }, fileId: null });
    expect(parseRoute("#/admin")).toEqual({ page: "admin" });
    expect(parseRoute("#/s/tok_1")).toEqual({ page: "share", token: "tok_1", fileId: null });
    expect(parseRoute("#/s/tok_1/files/f9")).toEqual({ page: "share", token: "tok_1", fileId: "f9" });
  });

  it("falls back to the library (or the list) on junk", () => {
    expect(parseRoute("#/nope")).toEqual({ page: "files", scope: { kind: "all" }, fileId: null });
    expect(parseRoute("#/files/")).toEqual({ page: "files", scope: { kind: "all" }, fileId: null });
    expect(parseRoute("#/files/a%2Fb")).toEqual({ page: "files", scope: { kind: "all" }, fileId: null });
    expect(parseRoute("#/files/%E0%A4%A")).toEqual({ page: "files", scope: { kind: "all" }, fileId: null });
    expect(parseRoute("#/albums/<script>")).toEqual({ page: "albums" });
    expect(parseRoute("#/s/")).toEqual({ page: "files", scope: { kind: "all" }, fileId: null });
    expect(parseRoute("#/s/t/files/")).toEqual({ page: "share", token: "t", fileId: null });
  });

  it("formats routes that parse back to themselves", () => {
    const routes: Route[] = [
      { page: "files", scope: { kind: "all" }, fileId: null },
      { page: "files", scope: { kind: "all" }, fileId: "f1" },
      { page: "files", scope: { kind: "favourites" }, fileId: "f1" },
      { page: "files", scope: { kind: "trash" }, fileId: null },
      { page: "files", scope: { kind: "album", albumId: "a-1" }, fileId: null },
      { page: "files", scope: { kind: "album", albumId: "a-1" }, fileId: "f_2" },
      { page: "albums" },
      { page: "admin" },
      { page: "share", token: "T0k", fileId: null },
      { page: "share", token: "T0k", fileId: "f3" },
    ];
    for (const r of routes) expect(parseRoute(formatRoute(r))).toEqual(r);
    expect(formatRoute(routes[0])).toBe("#/");
    expect(formatRoute(routes[1])).toBe("#/files/f1");
    expect(formatRoute(routes[5])).toBe("#/albums/a-1/files/f_2");
    expect(formatRoute(routes[9])).toBe("#/s/T0k/files/f3");
  });

  it("withoutFile closes the viewer part only", () => {
    expect(formatRoute(withoutFile(parseRoute("#/albums/a/files/f")))).toBe("#/albums/a");
    expect(formatRoute(withoutFile(parseRoute("#/s/t/files/f")))).toBe("#/s/t");
    expect(withoutFile({ page: "albums" })).toEqual({ page: "albums" });
  });
});
