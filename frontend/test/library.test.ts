import { describe, expect, it, vi } from "vitest";
import type { Api } from "../src/api";
import { compareItems, guessType, Library, matchesFilters } from "../src/library";
import type { FileItem, FilePage } from "../src/types";

function item(id: string, created: string, extra: Partial<FileItem> = {}): FileItem {
  return {
    id,
    name: `${id}.jpg`,
    size: 1,
    type: "image",
    mime_type: "image/jpeg",
    upload_status: "completed",
    processing_status: "completed",
    progress: 100,
    error: null,
    thumbnail_url: null,
    placeholder: null,
    playable: false,
    direct_play: null,
    width: null,
    height: null,
    duration: null,
    created_at: created,
    updated_at: created,
    ...extra,
  };
}

function fakeApi(pages: FilePage[], files: Record<string, FileItem> = {}): Api {
  return {
    listFiles: vi.fn(async () => pages.shift() ?? { items: [], next_cursor: null }),
    getFile: vi.fn(async (id: string) => files[id]),
  } as unknown as Api;
}

describe("Library", () => {
  it("a just-uploaded file is fetched by id and shown at once, without a list refresh", async () => {
    const fresh = item("new", "2025-01-05", { processing_status: "pending", type: "video" });
    const api = fakeApi([{ items: [item("a", "2025-01-01")], next_cursor: null }], { new: fresh });
    const lib = new Library(api);
    await lib.reload();
    expect(await lib.arrive("new")).toBe(true);
    expect(lib.fileIds()).toEqual(["new", "a"]);
    expect((api.listFiles as ReturnType<typeof vi.fn>).mock.calls).toHaveLength(1); // no refresh
    lib.setFilters({ type: "image" });
    await vi.waitFor(() => expect(lib.loadedOnce).toBe(true));
    expect(await lib.arrive("new")).toBe(false); // a video does not belong in the images view
    expect(await lib.arrive("gone")).toBe(false); // not fetched: the caller falls back to a refresh
  });

  it("orders newest first like the server", () => {
    const a = item("a", "2025-01-01 10:00:00");
    const b = item("b", "2025-01-01 11:00:00");
    expect([a, b].sort(compareItems).map((i) => i.id)).toEqual(["b", "a"]);
  });

  it("pages with the cursor and stops at the end", async () => {
    const api = fakeApi([
      { items: [item("c", "2025-01-03"), item("b", "2025-01-02")], next_cursor: "X" },
      { items: [item("a", "2025-01-01")], next_cursor: null },
    ]);
    const lib = new Library(api);
    await lib.reload();
    expect(lib.fileIds()).toEqual(["c", "b"]);
    expect(lib.hasMore).toBe(true);
    await lib.loadMore();
    expect(lib.fileIds()).toEqual(["c", "b", "a"]);
    expect((api.listFiles as ReturnType<typeof vi.fn>).mock.calls[1][1]).toBe("X");
    await lib.loadMore();
    expect((api.listFiles as ReturnType<typeof vi.fn>).mock.calls).toHaveLength(2);
  });

  it("a new sort or scope starts over without a cursor; the same query keeps the list", async () => {
    const api = fakeApi([
      { items: [item("c", "2025-01-03"), item("b", "2025-01-02")], next_cursor: "X" },
      { items: [item("a", "2025-01-01", { name: "a.jpg" }), item("b", "2025-01-02", { name: "b.jpg" })], next_cursor: "Y" },
      { items: [item("t", "2025-01-01", { trashed_at: "2025-02-01 00:00:00" })], next_cursor: null },
    ]);
    const calls = (api.listFiles as ReturnType<typeof vi.fn>).mock.calls;
    const lib = new Library(api);
    await lib.reload();
    lib.setFilters({ sort: "name", order: "asc" });
    await vi.waitFor(() => expect(lib.fileIds()).toEqual(["a", "b"]));
    expect(calls[1][0]).toMatchObject({ sort: "name", order: "asc" });
    expect(calls[1][1]).toBeNull(); // the old sort's cursor is not reused
    expect(lib.nextCursor).toBe("Y");
    lib.setFilters({ sort: "name", order: "asc", q: "" });
    expect(calls).toHaveLength(2); // same list: no reload
    // a rename moves the file under sort=name
    lib.upsert(item("a", "2025-01-01", { name: "z.jpg", updated_at: "later" }));
    expect(lib.fileIds()).toEqual(["b", "a"]);
    lib.setFilters({ trashed: true });
    await vi.waitFor(() => expect(lib.fileIds()).toEqual(["t"]));
    expect(calls[2][0]).toMatchObject({ trashed: true, sort: "name" });
    expect(calls[2][1]).toBeNull();
    // a live file does not belong in the trash list
    lib.upsert(item("n", "2025-03-01"));
    expect(lib.fileIds()).toEqual(["t"]);
  });

  it("an album list takes only files known to be in the album", async () => {
    const lib = new Library(fakeApi([{ items: [item("a", "2025-01-01")], next_cursor: null }]));
    lib.filters = { ...lib.filters, album: "AL" };
    await lib.reload();
    lib.upsert(item("up", "2025-02-01")); // a finished upload: not in the album
    expect(lib.fileIds()).toEqual(["a"]);
    lib.upsert(item("b", "2025-02-02"), false, true); // listed by the server for this album
    lib.upsert(item("c", "2025-02-03", { album_ids: ["AL"] }));
    lib.upsert(item("a", "2025-01-01", { processing_status: "failed" })); // known: updates
    expect(lib.fileIds()).toEqual(["c", "b", "a"]);
    expect(lib.get("a")?.processing_status).toBe("failed");
  });

  it("keeps deep-linked files known until the list is reloaded", async () => {
    const lib = new Library(fakeApi([{ items: [], next_cursor: null }, { items: [], next_cursor: null }]));
    await lib.reload();
    lib.adopt(item("far", "2020-01-01"));
    expect(lib.get("far")?.id).toBe("far");
    expect(lib.fileIds()).toEqual([]);
    lib.patch(item("far", "2020-01-01", { favourite: true }));
    expect(lib.get("far")?.favourite).toBe(true);
    await lib.reload();
    expect(lib.get("far")).toBeUndefined();
  });

  it("inserts new files at their place, updates known ones, drops ones leaving the filter", async () => {
    const lib = new Library(fakeApi([{ items: [item("b", "2025-01-02"), item("a", "2025-01-01")], next_cursor: null }]));
    await lib.reload();
    lib.upsert(item("c", "2025-01-03"));
    expect(lib.fileIds()).toEqual(["c", "b", "a"]);
    lib.upsert(item("b", "2025-01-02", { processing_status: "failed", error: "bad" }));
    expect(lib.get("b")?.error).toBe("bad");
    lib.filters = { ...lib.filters, type: "", status: "completed", q: "" };
    lib.upsert(item("b", "2025-01-02", { processing_status: "failed" }));
    expect(lib.fileIds()).toEqual(["c", "a"]);
  });

  it("does not insert files older than the loaded pages", async () => {
    const lib = new Library(fakeApi([{ items: [item("b", "2025-01-02")], next_cursor: "X" }]));
    await lib.reload();
    lib.upsert(item("old", "2020-01-01"));
    expect(lib.fileIds()).toEqual(["b"]);
  });

  it("polls processing files and applies their new state", async () => {
    const done = item("p", "2025-01-02", { processing_status: "completed", progress: 100 });
    const lib = new Library(fakeApi([{ items: [item("p", "2025-01-02", { processing_status: "processing", progress: 40 })], next_cursor: null }], { p: done }));
    await lib.reload();
    expect(lib.activeIds()).toEqual(["p"]);
    await lib.pollActive();
    expect(lib.get("p")?.processing_status).toBe("completed");
    expect(lib.activeIds()).toEqual([]);
    lib.stopLive();
  });

  it("shows upload tiles before files, and filters and guesses types", async () => {
    const lib = new Library(fakeApi([{ items: [item("a", "2025-01-01")], next_cursor: null }]));
    await lib.reload();
    lib.setUpload({ key: "upload:1", name: "clip.mov", size: 10, type: "video", progress: 5, state: "uploading" });
    expect(lib.entries().map((e) => e.id)).toEqual(["upload:1", "a"]);
    expect(guessType("x.CR3")).toBe("image");
    expect(guessType("x.mxf")).toBe("video");
    expect(guessType("x.pdf", "application/pdf")).toBe("other");
    expect(matchesFilters({ name: "Holiday.JPG", type: "image", processing_status: "completed" }, { type: "image", status: "", q: "holi" })).toBe(true);
  });
});

describe("Library.upsert and signed URLs", () => {
  it("keeps a known item's thumbnail URL (no reload) unless the file changed or a fresh one is asked for", async () => {
    const lib = new Library(fakeApi([{ items: [item("a", "2025-01-01", { thumbnail_url: "u1" })], next_cursor: null }]));
    await lib.reload();
    let events = 0;
    lib.onChange(() => events++);
    lib.upsert(item("a", "2025-01-01", { thumbnail_url: "u2" }));
    expect(lib.get("a")?.thumbnail_url).toBe("u1");
    expect(events).toBe(0); // nothing else changed: no re-render
    lib.upsert(item("a", "2025-01-01", { thumbnail_url: "u3" }), true);
    expect(lib.get("a")?.thumbnail_url).toBe("u3");
    lib.upsert(item("a", "2025-01-01", { thumbnail_url: "u4", updated_at: "2025-02-01" }));
    expect(lib.get("a")?.thumbnail_url).toBe("u4");
    expect(events).toBe(2);
  });

  it("keeps an upload's local thumbnail on its file until the server's arrives", async () => {
    const lib = new Library(fakeApi([{ items: [], next_cursor: null }]));
    await lib.reload();
    lib.rememberLocalThumb("x.jpg", 1, "blob:local");
    const fresh = item("x", "2025-01-02 10:00:00", { processing_status: "pending", progress: 0 });
    lib.upsert(fresh);
    expect(lib.get("x")?.local_thumbnail).toBe("blob:local");
    lib.upsert({ ...fresh, processing_status: "processing", progress: 10, updated_at: "2025-01-02 10:00:01" });
    expect(lib.get("x")?.local_thumbnail).toBe("blob:local"); // still no server thumbnail
    lib.upsert({ ...fresh, processing_status: "completed", thumbnail_url: "https://x/grid.jpg", updated_at: "2025-01-02 10:00:02" });
    expect(lib.get("x")?.thumbnail_url).toBe("https://x/grid.jpg");
  });
});
