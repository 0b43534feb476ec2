import { describe, expect, it, vi } from "vitest";
import { Api, ApiError, PublicApi, retryAfterMs } from "../src/api";
import { DEFAULT_QUERY } from "../src/listing";

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });
}

describe("Api", () => {
  it("sends the bearer token and builds list queries", async () => {
    const fetch = vi.fn(async () => json(200, { items: [], next_cursor: null }));
    const api = new Api({ token: () => "T", fetch: fetch as unknown as typeof globalThis.fetch });
    await api.listFiles({ type: "video", status: "", q: " clip " }, "CUR", 50);
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe("/api/files?limit=50&cursor=CUR&type=video&q=clip");
    expect((init.headers as Record<string, string>).Authorization).toBe("Bearer T");
  });

  it("sends sort, scope and metadata filters; the display name is `name`", async () => {
    const fetch = vi.fn(async () => json(200, { items: [{ id: "a", name: "old.jpg", filename: "new.jpg" }], next_cursor: null }));
    const api = new Api({ token: () => "T", fetch: fetch as unknown as typeof globalThis.fetch });
    const page = await api.listFiles({ ...DEFAULT_QUERY, sort: "taken" as const, order: "asc" as const, album: "AL", lens: "50mm f/1.8", taken_to: "2024-05-31" }, null, 20);
    const [url] = fetch.mock.calls[0] as unknown as [string];
    expect(url).toBe("/api/files?limit=20&sort=taken&order=asc&album=AL&lens=50mm+f%2F1.8&taken_to=2024-05-31");
    expect(page.items[0].name).toBe("new.jpg");
  });

  it("moves to the trash, restores and purges in requests of at most 500 ids", async () => {
    const calls: [string, number][] = [];
    const fetch = (async (url: string, init: RequestInit) => {
      const ids = JSON.parse(String(init.body)).ids as string[];
      calls.push([url, ids.length]);
      return json(200, { trashed: ids.length, restored: ids.length, purged: ids.length });
    }) as unknown as typeof globalThis.fetch;
    const api = new Api({ token: () => "T", fetch });
    const ids = Array.from({ length: 501 }, (_, i) => `id${i}`);
    expect(await api.trashFiles(ids)).toBe(501);
    expect(await api.restoreFiles(ids.slice(0, 3))).toBe(3);
    expect(await api.purgeFiles(["x"])).toBe(1);
    expect(calls).toEqual([
      ["/api/files/bulk-delete", 500],
      ["/api/files/bulk-delete", 1],
      ["/api/files/bulk-restore", 3],
      ["/api/files/bulk-purge", 1],
    ]);
  });

  it("reads public shares without a token", async () => {
    const fetch = vi.fn(async () => json(200, { items: [], next_cursor: null }));
    const api = new Api({ token: () => null, fetch: fetch as unknown as typeof globalThis.fetch });
    const pub = new PublicApi(api, "tok/../x");
    await pub.listFiles({ sort: "name", order: "desc" }, "C", 10);
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe("/api/public/shares/tok%2F..%2Fx/files?cursor=C&limit=10&sort=name");
    expect((init.headers as Record<string, string>).Authorization).toBeUndefined();
  });

  it("turns JSON errors into ApiError and reports 401", async () => {
    const onUnauthorized = vi.fn();
    const api = new Api({ token: () => "T", onUnauthorized, fetch: (async () => json(401, { error: "token expired" })) as typeof fetch });
    await expect(api.getFile("x")).rejects.toMatchObject({ status: 401, message: "token expired" });
    expect(onUnauthorized).toHaveBeenCalledWith("token expired");
    const api404 = new Api({ token: () => "T", fetch: (async () => json(404, { error: "file not found" })) as typeof fetch });
    await expect(api404.getFile("x")).rejects.toBeInstanceOf(ApiError);
  });

  it("waits for Retry-After on 429 and retries", async () => {
    const responses = [json(429, { error: "slow down" }, { "Retry-After": "2" }), json(200, { id: "x" })];
    const sleep = vi.fn(async () => undefined);
    const api = new Api({ token: () => "T", sleep, fetch: (async () => responses.shift()!) as typeof fetch });
    await expect(api.getFile("x")).resolves.toEqual({ id: "x" });
    expect(sleep).toHaveBeenCalledWith(2000);
  });

  it("splits bulk deletes into requests of at most 500 ids", async () => {
    const bodies: string[][] = [];
    const fetch = (async (_url: string, init: RequestInit) => {
      const ids = JSON.parse(String(init.body)).ids as string[];
      bodies.push(ids);
      return json(200, { deleted: ids, not_found: [] });
    }) as unknown as typeof globalThis.fetch;
    const api = new Api({ token: () => "T", fetch });
    const ids = Array.from({ length: 1100 }, (_, i) => `id${i}`);
    const res = await api.deleteFiles(ids);
    expect(bodies.map((b) => b.length)).toEqual([500, 500, 100]);
    expect(res.deleted).toHaveLength(1100);
  });

  it("parses Retry-After dates and bounds the wait", () => {
    expect(retryAfterMs("3", 1000)).toBe(3000);
    expect(retryAfterMs(null, 1000)).toBe(1000);
    expect(retryAfterMs("9999", 1000)).toBe(30_000);
    const now = Date.parse("2025-01-01T00:00:00Z");
    expect(retryAfterMs("Wed, 01 Jan 2025 00:00:05 GMT", 1000, now)).toBe(5000);
  });
});
