/** Downloads: single originals through their signed link, many as one streamed ZIP. */

import type { Api } from "./api";
import { ApiError, MAX_BULK } from "./api";
import { h } from "./dom";

const SW_SCOPE = "/__mediagate/";
const SW_PATH = `${SW_SCOPE}zip`;
let worker: ServiceWorkerRegistration | null = null;

/**
 * The worker's scope is only /__mediagate/: it never sits between the page and its other
 * requests (API, thumbnails, HLS segments); navigations into its scope still reach it.
 */
export function registerDownloadWorker(): void {
  if (!("serviceWorker" in navigator) || !window.isSecureContext) return;
  navigator.serviceWorker
    .register("/sw.js", { scope: SW_SCOPE })
    .then((reg) => {
      worker = reg;
    })
    .catch(() => undefined);
}

/** Click a link to a URL that answers with Content-Disposition: attachment. */
export function saveUrl(url: string, name?: string): void {
  const a = h("a", { href: url, download: name ?? "", rel: "noopener", style: { display: "none" } });
  document.body.append(a);
  a.click();
  a.remove();
}

export async function downloadOne(api: Api, id: string): Promise<string> {
  const link = await api.download(id);
  saveUrl(link.url, link.name);
  return link.name;
}

function swReady(): boolean {
  return !!worker?.active;
}

let frame: HTMLIFrameElement | null = null;

/** Hand the ZIP to the service worker (streams to disk). Resolves when the response started. */
function zipViaWorker(token: string, ids: string[]): Promise<{ ok: boolean; error?: string; status?: number }> {
  const key = Math.random().toString(36).slice(2);
  if (!frame || !frame.isConnected) {
    frame = h("iframe", { name: "mg-download", title: "Downloads", hidden: true, tabindex: "-1", "aria-hidden": "true" }) as HTMLIFrameElement;
    document.body.append(frame);
  }
  const form = h(
    "form",
    { method: "POST", action: SW_PATH, target: "mg-download", hidden: true },
    h("input", { type: "hidden", name: "key", value: key }),
    h("input", { type: "hidden", name: "token", value: token }),
    h("input", { type: "hidden", name: "ids", value: ids.join(",") }),
  );
  return new Promise((resolve) => {
    const timer = setTimeout(() => done({ ok: true }), 15_000);
    const onMessage = (e: MessageEvent) => {
      if (e.data?.source === "mediagate-sw" && e.data.type === "zip" && e.data.key === key) done(e.data);
    };
    const done = (r: { ok: boolean; error?: string; status?: number }) => {
      clearTimeout(timer);
      navigator.serviceWorker.removeEventListener("message", onMessage);
      resolve(r);
    };
    navigator.serviceWorker.addEventListener("message", onMessage);
    document.body.append(form);
    form.submit();
    form.remove();
  });
}

/** Fallback without a service worker: fetch into a Blob (fine for modest sizes). */
async function zipViaBlob(api: Api, ids: string[], onProgress?: (done: number, total: number) => void): Promise<void> {
  const res = await api.batchZip(ids);
  const total = Number(res.headers.get("Content-Length")) || 0;
  const name = /filename="([^"]+)"/.exec(res.headers.get("Content-Disposition") ?? "")?.[1] ?? `mediagate-${ids.length}-files.zip`;
  const reader = res.body?.getReader();
  const chunks: Uint8Array[] = [];
  let got = 0;
  if (reader) {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      got += value.byteLength;
      onProgress?.(got, total);
    }
  }
  const blob = new Blob(chunks as BlobPart[], { type: "application/zip" });
  const url = URL.createObjectURL(blob);
  saveUrl(url, name);
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

export type ZipRoute = "service-worker" | "blob";

export async function downloadZip(
  api: Api,
  token: string,
  ids: string[],
  onProgress?: (done: number, total: number) => void,
): Promise<ZipRoute> {
  if (ids.length > MAX_BULK) throw new Error(`A ZIP can hold at most ${MAX_BULK} files; select fewer.`);
  if (swReady()) {
    const r = await zipViaWorker(token, ids);
    if (!r.ok) throw new ApiError(r.status ?? 0, r.error ?? "The ZIP could not be made.");
    return "service-worker";
  }
  await zipViaBlob(api, ids, onProgress);
  return "blob";
}
