/** Uploads interrupted in an earlier page load, read from tus-js-client's localStorage records. */

export interface InterruptedUpload {
  storageKey: string;
  uploadUrl: string;
  name: string;
  type: string;
  size: number;
  createdAt: string;
  offset?: number;
}

/** tus-js-client's resumable-upload records (`tus::<fingerprint>::<n>`) for one Uppy instance. */
export function findInterrupted(storage: Storage, instanceId: string, endpoint: string): InterruptedUpload[] {
  const out: InterruptedUpload[] = [];
  const prefix = `tus::tus-${instanceId}-`;
  for (let i = 0; i < storage.length; i++) {
    const key = storage.key(i);
    if (!key || !key.startsWith(prefix) || !key.includes(endpoint)) continue;
    try {
      const rec = JSON.parse(storage.getItem(key) ?? "");
      if (!rec?.uploadUrl) continue;
      out.push({
        storageKey: key,
        uploadUrl: rec.uploadUrl,
        name: rec.metadata?.filename ?? rec.metadata?.name ?? "file",
        type: rec.metadata?.filetype ?? rec.metadata?.type ?? "",
        size: Number(rec.size) || 0,
        createdAt: rec.creationTime ?? "",
      });
    } catch {
      /* not ours */
    }
  }
  return out.sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1));
}
