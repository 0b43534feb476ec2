/**
 * The download service worker. A ZIP of many originals can be gigabytes, and the batch
 * endpoint wants the bearer token in a header, so a plain link can't fetch it and
 * fetch()+Blob would hold it all in memory. Instead the page POSTs a form (ids + token)
 * to /__mediagate/zip in a hidden iframe; this worker turns it into the authorised API
 * request and hands the streamed response straight to the browser's download manager.
 */

interface FetchEventLike extends Event {
  request: Request;
  respondWith(r: Promise<Response> | Response): void;
  waitUntil(p: Promise<unknown>): void;
}
interface ClientLike {
  postMessage(data: unknown): void;
}
interface SwScope {
  addEventListener(type: "fetch", fn: (e: FetchEventLike) => void): void;
  addEventListener(type: "install" | "activate", fn: (e: FetchEventLike) => void): void;
  skipWaiting(): Promise<void>;
  clients: { claim(): Promise<void>; matchAll(o?: object): Promise<ClientLike[]> };
  location: Location;
}

const sw = self as unknown as SwScope;
const PATH = "/__mediagate/zip"; // registered with scope /__mediagate/

sw.addEventListener("install", () => void sw.skipWaiting());
sw.addEventListener("activate", (e) => e.waitUntil(sw.clients.claim()));

async function tell(message: object): Promise<void> {
  const clients = await sw.clients.matchAll({ type: "window", includeUncontrolled: true });
  for (const c of clients) c.postMessage({ source: "mediagate-sw", ...message });
}

function page(text: string, status: number): Response {
  return new Response(`<!doctype html><meta charset="utf-8"><p>${text.replace(/</g, "&lt;")}</p>`, {
    status,
    headers: { "Content-Type": "text/html; charset=utf-8" },
  });
}

async function zip(request: Request): Promise<Response> {
  const form = await request.formData();
  const key = String(form.get("key") ?? "");
  const token = String(form.get("token") ?? "");
  const ids = String(form.get("ids") ?? "")
    .split(",")
    .filter(Boolean);
  let res: Response;
  try {
    res = await fetch(new URL("/api/files/batch-download", sw.location.origin), {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json", Accept: "application/zip" },
      body: JSON.stringify({ ids, mode: "zip" }),
    });
  } catch {
    void tell({ type: "zip", key, ok: false, status: 0, error: "The server could not be reached." });
    return page("The server could not be reached.", 502);
  }
  if (!res.ok) {
    let error = `HTTP ${res.status}`;
    try {
      error = (await res.json()).error ?? error;
    } catch {
      /* not JSON */
    }
    void tell({ type: "zip", key, ok: false, status: res.status, error });
    return page(error, res.status);
  }
  void tell({ type: "zip", key, ok: true, status: res.status, size: Number(res.headers.get("Content-Length")) || null });
  const headers = new Headers();
  for (const name of ["Content-Type", "Content-Length", "Content-Disposition"]) {
    const v = res.headers.get(name);
    if (v) headers.set(name, v);
  }
  return new Response(res.body, { status: 200, headers });
}

sw.addEventListener("fetch", (e) => {
  const url = new URL(e.request.url);
  if (url.origin !== sw.location.origin || url.pathname !== PATH || e.request.method !== "POST") return;
  e.respondWith(zip(e.request));
});
