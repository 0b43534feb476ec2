// The JavaScript baseline of bench/worker_runtime.py: a minimal tus-like upload and a
// signed-link-like download on the R2 binding, with no Python and no database. It is part
// of the benchmark, not the product: the Python Worker is measured against it on the same
// workerd and the same kind of local R2.
//
//   POST   /upload               Upload-Length: N  -> 201, Location: /upload/<id>
//   PATCH  /upload/<id>          Upload-Offset: O, body -> 204, Upload-Offset: O+len
//                                one R2 part per PATCH: uploadPart(n, request.body);
//                                the last PATCH completes the multipart upload
//   GET    /objects/<key>?t=...  -> new Response(object.body) (Range: one bytes= range)
//
// Upload state lives in this isolate's memory (one local isolate), which is all a
// benchmark needs.
const uploads = new Map();
const TOKEN = "bench"; // the "signature" of a download link: checked, like the real one

function rangeOf(header, size) {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header || "");
  if (!m || (m[1] === "" && m[2] === "")) return null;
  if (m[1] === "") return { offset: Math.max(0, size - Number(m[2])), length: Math.min(size, Number(m[2])) };
  const start = Number(m[1]);
  const end = m[2] === "" ? size : Math.min(size, Number(m[2]) + 1);
  return { offset: start, length: end - start };
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const parts = url.pathname.split("/").filter(Boolean);
    if (request.method === "POST" && url.pathname === "/upload") {
      const length = Number(request.headers.get("upload-length"));
      const id = crypto.randomUUID().replaceAll("-", "");
      const key = `bench-js/${id}`;
      const mpu = await env.BUCKET.createMultipartUpload(key, { httpMetadata: { contentType: "application/octet-stream" } });
      uploads.set(id, { key, length, offset: 0, uploadId: mpu.uploadId, parts: [] });
      return new Response(null, { status: 201, headers: { Location: `/upload/${id}`, "Tus-Resumable": "1.0.0" } });
    }
    if (request.method === "PATCH" && parts[0] === "upload" && parts.length === 2) {
      const up = uploads.get(parts[1]);
      if (!up) return new Response("no such upload", { status: 404 });
      const offset = Number(request.headers.get("upload-offset"));
      const size = Number(request.headers.get("content-length"));
      if (offset !== up.offset) return new Response("offset mismatch", { status: 409 });
      const mpu = env.BUCKET.resumeMultipartUpload(up.key, up.uploadId);
      const part = await mpu.uploadPart(up.parts.length + 1, request.body);
      up.parts.push({ partNumber: part.partNumber, etag: part.etag });
      up.offset += size;
      if (up.offset === up.length) {
        await mpu.complete(up.parts);
        uploads.delete(parts[1]);
      }
      return new Response(null, { status: 204, headers: { "Upload-Offset": String(up.offset), "X-Key": up.key } });
    }
    if ((request.method === "GET" || request.method === "HEAD") && parts[0] === "objects") {
      if (url.searchParams.get("t") !== TOKEN) return new Response("bad link", { status: 403 });
      const key = decodeURIComponent(parts.slice(1).join("/"));
      const head = await env.BUCKET.head(key);
      if (!head) return new Response("not found", { status: 404 });
      const range = rangeOf(request.headers.get("range"), head.size);
      const object = await env.BUCKET.get(key, range ? { range } : {});
      const headers = { "Content-Type": "application/octet-stream", ETag: head.httpEtag, "Accept-Ranges": "bytes" };
      if (range) headers["Content-Range"] = `bytes ${range.offset}-${range.offset + range.length - 1}/${head.size}`;
      return new Response(request.method === "HEAD" ? null : object.body, { status: range ? 206 : 200, headers });
    }
    if (url.pathname === "/health") return new Response("ok");
    return new Response("not found", { status: 404 });
  },
};
