// The Worker on Pyodide, in Node: worker/src/entry.py with the vendored python_modules
// (the real workers-runtime-sdk included), against the JS bindings of fakes.mjs.
//
//   node tests/pyodide/run.mjs CONFIG.json      (driven by tests/test_pyodide_worker.py)
//
// Only what workerd cannot check (tests/workerd runs the tus protocol, the files API, cron,
// webhooks, the queue consumer -> Durable Object stub -> processor path and the dead-letter
// queue in the real runtime); the stand-ins of fakes.mjs are held to the runtime's
// behaviour by tests/test_fake_contracts.py.
//
// 1. Import checks: every Worker module imports on Pyodide (Python 3.14, the Workers
//    runtime's version for wrangler.toml's compatibility date) from python_modules only;
//    modules that start a thread or need a C extension fail.
// 2. The Worker serves HTTP: a Node server turns requests into JS Requests for
//    Default.fetch (asgi_bridge -> Starlette) and passes the JS Response's body on as
//    it is produced, with back-pressure, like workerd; two tus uploads through it (R2Bucket,
//    and the Neon adapter's js.fetch reaching the Neon HTTP fixture on a real Postgres)
//    are the fixtures of section 6.
// 3.-5. ctx.container (Miniflare runs containers only with Docker): jobs sent to the
//    ProcessorContainer Durable Object as the queue consumer sends them start the real
//    processor through the Container stand-in (start, /healthz through getTcpPort(8080),
//    forwarding); a container that exits on start and a missing secret answer 503; the idle
//    alarm destroys the container.
// 6. The streaming ASGI bridge (asgi_bridge.py, seen through checks.Probe): request
//    bodies reach the app chunk by chunk with flat memory (tus PATCHes as JS-held chunks
//    through the BODY_CHUNKS extension), an aborted body is a disconnect, a 40 MiB object
//    download hands the R2 stream to the Response, the batch ZIP streams with back-pressure,
//    request.cf picks the download region, HEAD/204 get null bodies, app errors become
//    500 JSON or an aborted body, and a client that goes away ends the app.
//
// Prints one line "RESULT <json>" for pytest; any failed expectation exits non-zero.
import { createHash, randomFillSync } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { Readable } from "node:stream";
import { Container, DurableObjectNamespace, FixedLengthStream, R2Bucket, WorkerQueue, freePort } from "./fakes.mjs";

const MIB = 1024 * 1024;
const config = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const { loadPyodide } = await import(path.join(config.repo, "node_modules/pyodide/pyodide.mjs"));
const started = Date.now();
const log = (...a) => console.error(`[pyodide-worker +${((Date.now() - started) / 1000).toFixed(1)}s]`, ...a);
const result = { steps: [] };
const step = (name, data = {}) => {
  result.steps.push(name);
  log(name, Object.keys(data).length ? JSON.stringify(data).slice(0, 300) : "");
};
function expect(cond, message, detail) {
  if (!cond) {
    const err = new Error(`expectation failed: ${message}${detail === undefined ? "" : ` -- ${JSON.stringify(detail)}`}`);
    throw err;
  }
}
for (const event of ["uncaughtException", "unhandledRejection"]) {
  // Report it briefly (Node would print a line of the minified pyodide.asm.mjs) and fail.
  process.on(event, (e) => {
    console.error(`run.mjs: ${event}:`, String(e?.stack ?? e).slice(0, 4000));
    process.exit(4);
  });
}
const guard = setTimeout(() => {
  console.error("run.mjs: timed out");
  process.exit(3);
}, (config.timeoutSeconds ?? 110) * 1000);

// Resolves when `res` can take more data, or is closed.
const drained = (res) =>
  new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });

const cleanups = [];
async function main() {
  // -- Pyodide with the repository mounted ---------------------------------------------
  globalThis.FixedLengthStream = FixedLengthStream; // a Workers global the R2 adapter uses
  const py = await loadPyodide({ indexURL: path.join(config.repo, "node_modules/pyodide/") });
  py.setStderr({ batched: (s) => console.error(`[py] ${s}`) });
  py.setStdout({ batched: (s) => console.error(`[py] ${s}`) });
  py.FS.mkdirTree("/repo");
  py.FS.mount(py.FS.filesystems.NODEFS, { root: config.repo }, "/repo");
  if (config.extraPath) {
    py.FS.mkdirTree("/extra");
    py.FS.mount(py.FS.filesystems.NODEFS, { root: config.extraPath }, "/extra");
  }
  step("pyodide loaded", { version: py.version });

  const waitUntil = [];
  const env = {};
  const pulled = new Map(); // request-body streams of section 6: tag -> pieces produced so far
  py.registerJsModule("mediagate_harness", {
    cloudflareWorkers: { env, waitUntil: (p) => waitUntil.push(p) },
    pulled: (tag) => pulled.get(tag) ?? -1,
    doAnImport: async (name) => {
      throw new Error(`the harness provides no JS module ${name}`);
    },
  });
  py.runPython(`
import sys, site, logging
sys.dont_write_bytecode = True          # never write .pyc into the mounted repository
site.addsitedir("/repo/python_modules")  # vendored packages (+ the SDK's .pth)
sys.path.insert(0, "/repo/worker/src")
sys.path.insert(0, "/repo/tests/pyodide")
if ${config.extraPath ? "True" : "False"}:
    sys.path.insert(0, "/extra")
logging.basicConfig(level=logging.WARNING, format="%(name)s %(levelname)s %(message)s")
import workerd_stubs
`);

  // -- 1. import checks ---------------------------------------------------------------
  const checks = py.pyimport("checks");
  const graph = checks.import_worker_graph().toJs({ dict_converter: Object.fromEntries });
  result.importGraph = graph;
  expect(graph.platform === "emscripten", "running on Pyodide", graph.platform);
  expect(Object.keys(graph.failed).length === 0, "every Worker module imports on Pyodide", graph.failed);
  expect(graph.leaked.length === 0, "no CPython-only module imported by the Worker graph", graph.leaked);
  result.mustFail = checks.must_fail(config.mustFail ?? []).toJs({ dict_converter: Object.fromEntries });
  step("import checks", { modules: graph.imported.length, python: graph.python, mustFail: result.mustFail });

  const entry = py.pyimport("entry");
  const Default = entry.Default;
  const ProcessorContainer = entry.ProcessorContainer;

  // -- bindings ---------------------------------------------------------------------------
  const bucket = new R2Bucket(path.join(config.dataDir, "store"));
  const queue = new WorkerQueue();
  const processorEnvBase = Object.fromEntries(
    ["PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"]
      .filter((k) => process.env[k] !== undefined)
      .map((k) => [k, process.env[k]]),
  );
  const containers = [];
  const makeNamespace = async (command, label) => {
    const ports = [await freePort(), await freePort()];
    let n = 0;
    const namespace = new DurableObjectNamespace(
      (state) => ProcessorContainer(state, namespace.env),
      (name) => {
        const container = new Container({
          command,
          cwd: config.repo,
          baseEnv: processorEnvBase,
          overrides: {
            // Only what differs from Cloudflare: the host port. Storage is production's path
            // (STORE_BACKEND=worker from container_env): each job's grant, through this Worker
            // on Pyodide to R2Bucket. DATA_DIR points away from R2Bucket's files: nothing behind its back.
            PROCESSOR_HOST: "127.0.0.1",
            PROCESSOR_PORT: String(ports[n++ % ports.length]),
            DATA_DIR: path.join(config.dataDir, "processor-own"),
            PYTHONPATH: config.processorPythonPath,
            POLL_INTERVAL: "0.2",
          },
          logPath: path.join(config.dataDir, `container-${label}-${name}.log`),
        });
        containers.push(container);
        return container;
      },
    );
    return namespace;
  };
  const processorNs = await makeNamespace([config.python, "-m", "processor.service"], "main");
  cleanups.push(async () => {
    for (const c of containers) await c.destroy();
  });

  // -- 2. the Worker as an HTTP server -------------------------------------------------
  const ctx = { waitUntil: (p) => waitUntil.push(p), passThroughOnException() {} };
  let worker = null;
  const server = http.createServer(async (req, res) => {
    try {
      const url = `http://127.0.0.1:${server.address().port}${req.url}`;
      const headers = new Headers();
      for (const [k, v] of Object.entries(req.headers)) for (const x of [].concat(v)) headers.append(k, x);
      const hasBody = !["GET", "HEAD"].includes(req.method);
      const request = new Request(url, {
        method: req.method,
        headers,
        body: hasBody ? Readable.toWeb(req) : undefined,
        duplex: "half",
      });
      const response = await worker.fetch(request);
      res.writeHead(response.status, Object.fromEntries(response.headers));
      if (req.method === "HEAD" || response.body === null) {
        res.end();
        return;
      }
      // Pass the body on as it is produced, with back-pressure both ways (like workerd).
      const reader = response.body.getReader();
      res.on("close", () => {
        if (!res.writableFinished) reader.cancel("the client went away").catch(() => {});
      });
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (!res.write(value)) await drained(res);
      }
      res.end();
    } catch (e) {
      log("worker fetch failed:", e);
      if (res.headersSent) {
        res.destroy(e); // a body that broke off must not look complete
      } else {
        res.writeHead(500);
        res.end(String(e));
      }
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  const base = `http://127.0.0.1:${server.address().port}`;

  Object.assign(env, {
    BUCKET: bucket,
    JOBS: queue,
    PROCESSOR: processorNs,
    JWT_SECRET: config.jwtSecret,
    DATABASE_URL: config.databaseUrl,
    NEON_SQL_ENDPOINT: config.neonEndpoint,
    WEBHOOK_SECRET: config.webhookSecret,
    MAX_UPLOAD_SIZE: "1000000000",
    UPLOAD_PART_SIZE: String(5 * MIB),
    UPLOAD_TTL_SECONDS: "3600",
    QUEUE_MAX_ATTEMPTS: "3",
    R2_BUCKET: "mediagate-media",  // R2_* keys unset: the container gets storage grants instead
    PROCESSOR_INSTANCES: "1",
    PROCESSOR_IDLE_SECONDS: "1",
    PROCESSOR_START_TIMEOUT: "60",
    PROCESSOR_RETRY_DELAY: "7",
    RETRY_BASE_DELAY: "2",
    LOG_LEVEL: "WARNING",
    WORKER_URL: base,
    // Section 6: request.cf's continent picks "eu"; the default region is this API itself.
    DOWNLOAD_REGIONS: JSON.stringify({
      us: { continents: ["NA", "SA"], countries: ["US"] },
      eu: { base_url: "https://eu.files.example", continents: ["EU"] },
    }),
    DEFAULT_REGION: "us",
  });
  processorNs.env = env;
  worker = Default(ctx, env);

  const auth = { Authorization: `Bearer ${config.token}` };
  const TUS = { "Tus-Resumable": "1.0.0" };
  const b64 = (s) => Buffer.from(s).toString("base64");

  let r = await fetch(`${base}/api/health`);
  expect(r.status === 200, "GET /api/health", r.status);
  expect((await r.json()).status === "ok", "health body");

  async function tusUpload(data, sizes, filename, filetype) {
    let res = await fetch(`${base}/api/upload`, {
      method: "POST",
      headers: {
        ...TUS,
        ...auth,
        Origin: "https://app.example",
        "Upload-Length": String(data.byteLength),
        "Upload-Metadata": `filename ${b64(filename)},filetype ${b64(filetype)}`,
      },
    });
    expect(res.status === 201, `POST /api/upload ${filename}`, [res.status, await res.text()]);
    expect(/upload-offset/i.test(res.headers.get("access-control-expose-headers") ?? ""), "CORS exposes tus headers", [...res.headers]);
    const location = new URL(res.headers.get("location"), base).toString();
    let offset = 0;
    for (const size of [...sizes, data.byteLength - sizes.reduce((a, b) => a + b, 0)]) {
      const chunk = data.subarray(offset, offset + size);
      res = await fetch(location, {
        method: "PATCH",
        headers: { ...TUS, ...auth, "Upload-Offset": String(offset), "Content-Type": "application/offset+octet-stream" },
        body: chunk,
      });
      expect(res.status === 204, `PATCH ${filename} at ${offset}`, [res.status, await res.text()]);
      offset += size;
      expect(res.headers.get("upload-offset") === String(offset), "Upload-Offset after PATCH", res.headers.get("upload-offset"));
    }
    res = await fetch(location, { method: "HEAD", headers: { ...TUS, ...auth } });
    expect(res.status === 200 && res.headers.get("upload-offset") === String(data.byteLength), "HEAD after upload");
    const uploadId = location.split("/").pop();
    return uploadId;
  }

  // Fixtures for section 6 (the tus protocol into R2 + Neon itself is checked in workerd,
  // tests/workerd): A, 12 MiB + 12,345 bytes of an unknown type in odd chunks; B, a JPEG.
  const dataA = new Uint8Array(12 * MIB + 12345);
  for (let i = 0; i < dataA.length; i += 65536) dataA.set(crypto.getRandomValues(new Uint8Array(Math.min(65536, dataA.length - i))), i);
  const uploadA = await tusUpload(dataA, [700001, 2 * MIB + 3, 3 * MIB + 5, 1, 5 * MIB + 7], "blob.bin", "application/octet-stream");
  const sha = (d) => createHash("sha256").update(d).digest("hex");
  const jpeg = new Uint8Array(fs.readFileSync(config.jpegPath));
  const uploadB = await tusUpload(jpeg, [Math.floor(jpeg.length / 3)], "photo.jpg", "image/jpeg");
  expect(queue.sent.length === 2, "one job message per completed upload", queue.sent.length);
  const jobFor = (uploadId) => queue.sent.find((m) => m.body.object_key.endsWith(`/${uploadId}`)).body;
  const [jobA, jobB] = [jobFor(uploadA), jobFor(uploadB)];
  result.uploads = { A: uploadA, B: uploadB };
  step("tus uploads A, B (fixtures)", { uploadA, uploadB });

  // -- 3.-5. ctx.container: ProcessorContainer on the Container stand-in ------------------------
  // Jobs reach the Durable Object as QueueConsumer.push sends them (stub.fetch POST /jobs);
  // the consumer and the stub themselves are exercised in workerd, which has no containers.
  const pushJob = (ns, job, attempts = 1) => {
    const delivery = checks.job_delivery(ns.env ?? env, job, attempts).toJs({ dict_converter: Object.fromEntries });
    return ns.getByName("processor-0").fetch("http://container/jobs", { method: "POST", headers: delivery[1], body: delivery[0] });
  };
  const [resA, resB] = await Promise.all([pushJob(processorNs, jobA), pushJob(processorNs, jobB)]);
  expect(resA.status === 200 && resB.status === 200, "both jobs forwarded to the processor and done", [resA.status, await resA.text(), resB.status, await resB.text()]);
  const main0 = containers[0];
  expect(containers.length === 1 && main0.startCalls.length === 1, "one container started once for two concurrent jobs", containers.map((c) => c.startCalls.length));
  result.containerStart = main0.startCalls[0];
  r = await processorNs.getByName("processor-0").fetch("http://do/status");
  expect(r.status === 200 && (await r.json()).running === true, "DO /status reports the running container");
  const stubProbe = await checks.probe_stub(processorNs.getByName("processor-0"));
  result.stubProbe = stubProbe.toJs({ dict_converter: Object.fromEntries });
  stubProbe.destroy();
  const again = await pushJob(processorNs, jobB, 2);
  expect(again.status === 200 && main0.startCalls.length === 1, "the running container is reused", [again.status, main0.startCalls.length]);
  step("ctx.container started once, jobs forwarded through getTcpPort(8080).fetch");

  const exitingNs = await makeNamespace([config.python, "-c", "import sys; sys.exit(3)"], "exiting");
  exitingNs.env = env;
  r = await pushJob(exitingNs, jobA);
  let detail = await r.json();
  expect(r.status === 503 && r.headers.get("retry-after") === "7" && /exited while starting/.test(detail.detail.reason), "a container that exits on start: 503, retry after PROCESSOR_RETRY_DELAY", [r.status, detail]);
  const noSecretNs = await makeNamespace([config.python, "-m", "processor.service"], "nosecret");
  noSecretNs.env = { ...env };
  delete noSecretNs.env.WORKER_URL;
  r = await pushJob(noSecretNs, jobA);
  detail = await r.json();
  expect(r.status === 503 && /WORKER_URL/.test(detail.detail.reason), "a missing secret: 503 naming it", [r.status, detail]);
  expect(containers.at(-1).startCalls.length === 0, "missing secret: the container is not started");
  step("unavailable container paths");

  const doEntry = processorNs.instances.get("processor-0");
  expect(doEntry.state.storage.alarm !== null, "an idle alarm is scheduled");
  await new Promise((res) => setTimeout(res, 1100));
  await doEntry.object.alarm();
  await Promise.race([main0.exited, new Promise((res) => setTimeout(res, 5000))]);
  expect(!main0.running, "the idle alarm stopped the container");
  step("idle alarm stopped the container");

  // -- 6. the streaming ASGI bridge ------------------------------------------------------------
  // checks.Probe wraps the app and records what crosses the bridge for requests tagged
  // X-Probe. "direct" requests call Default.fetch with a JS Request (a ReadableStream body
  // made of pieces, request.cf) and read the JS Response it returns; the rest go over HTTP.
  checks.install_probe(entry, worker);
  const probe = (tag) => {
    const rec = checks.probe_record(entry, tag);
    if (rec === undefined || rec === null) return null;
    const out = rec.toJs({ dict_converter: Object.fromEntries });
    rec.destroy();
    return out;
  };
  const sleep = (ms) => new Promise((res) => setTimeout(res, ms));
  const until = async (cond, ms = 5000) => {
    const end = Date.now() + ms;
    while (!cond() && Date.now() < end) await sleep(20);
    return cond();
  };
  const KIB = 1024;
  const PIECE = 256 * KIB;
  const OFFSET_TYPE = "application/offset+octet-stream";
  // A pull-based request body: `data` in PIECE-sized pieces, counted in pulled[tag]; with
  // failAfter it errors (the client aborted) once that many pieces were produced.
  const pieces = (tag, data, failAfter) => {
    let at = 0;
    pulled.set(tag, 0);
    return new ReadableStream({
      pull(controller) {
        if (failAfter !== undefined && pulled.get(tag) >= failAfter) return controller.error(new Error("the client aborted the upload"));
        if (at >= data.byteLength) return controller.close();
        controller.enqueue(data.slice(at, at + PIECE));
        at += PIECE;
        pulled.set(tag, pulled.get(tag) + 1);
      },
    });
  };
  const direct = (target, init = {}, cf) => {
    const request = new Request(new URL(target, base), { duplex: "half", ...init });
    if (cf) Object.defineProperty(request, "cf", { value: cf, enumerable: true });
    return request;
  };
  async function createUpload(length, filename) {
    const res = await fetch(`${base}/api/upload`, {
      method: "POST",
      headers: { ...TUS, ...auth, "Upload-Length": String(length), "Upload-Metadata": `filename ${b64(filename)},filetype ${b64("application/octet-stream")}` },
    });
    expect(res.status === 201, `POST /api/upload ${filename}`, res.status);
    return new URL(res.headers.get("location"), base);
  }
  async function readAllChunks(body) {
    const reader = body.getReader();
    const chunks = [];
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
    }
    return { chunks, bytes: Buffer.concat(chunks) };
  }
  const streaming = {};
  result.streaming = streaming;

  // 6a. A 12 MiB PATCH over HTTP, sent as a stream: it reaches the app in many messages.
  const dataD = randomFillSync(new Uint8Array(12 * MIB));
  const locD = await createUpload(dataD.byteLength, "streamed.bin");
  r = await fetch(locD, {
    method: "PATCH",
    duplex: "half",
    headers: { ...TUS, ...auth, "Upload-Offset": "0", "Content-Type": OFFSET_TYPE, "X-Probe": "patch-http" },
    body: pieces("patch-http", dataD),
  });
  expect(r.status === 204 && r.headers.get("upload-offset") === String(dataD.byteLength), "streamed PATCH over HTTP", [r.status, await r.text()]);
  let rec = probe("patch-http");
  expect(rec.request_bytes === dataD.byteLength, "the app received every byte of the PATCH", rec);
  expect(rec.request_messages >= 12, "the PATCH body reached the app as many http.request messages", rec);
  expect(rec.spec_version === "2.4", "ASGI HTTP spec 2.4", rec.spec_version);
  const uploadD = locD.pathname.split("/").pop();
  const storedD = await bucket.get(`originals/${config.userId}/${uploadD}`);
  expect(sha(new Uint8Array(await new Response(storedD.body).arrayBuffer())) === sha(dataD), "streamed upload D is byte-identical");
  streaming.patchHttp = { messages: rec.request_messages, maxChunk: rec.request_max_chunk };
  step("6a. 12 MiB PATCH streamed over HTTP", streaming.patchHttp);

  // 6b. A 40 MiB PATCH straight into Default.fetch: read only as the app asks, flat memory.
  const dataE = randomFillSync(new Uint8Array(40 * MIB));
  const locE = await createUpload(dataE.byteLength, "big.bin");
  checks.trace_start(); // the whole exchange: the bridge reading the body, the app, the response
  r = await worker.fetch(
    direct(locE.pathname, {
      method: "PATCH",
      headers: { ...TUS, ...auth, "Upload-Offset": "0", "Content-Type": OFFSET_TYPE, "X-Probe": "patch-40" },
      body: pieces("patch-40", dataE),
    }),
  );
  const patchPeak = checks.trace_peak();
  expect(r.status === 204 && r.body === null && r.headers.get("upload-offset") === String(dataE.byteLength), "direct 40 MiB PATCH: 204 with a null body", r.status);
  rec = probe("patch-40");
  const piecesE = dataE.byteLength / PIECE;
  expect(rec.request_bytes === dataE.byteLength && rec.request_messages === piecesE, "one body chunk per piece", rec);
  expect(rec.request_js_chunks === piecesE, "the tus PATCH read its body as JS-held chunks (BODY_CHUNKS)", rec);
  expect(rec.pulled_at_first !== null && rec.pulled_at_first <= 3, "the app saw the first chunk before the client produced the rest", rec);
  expect(patchPeak < dataE.byteLength / 3, "peak Python memory during a 40 MiB PATCH stays well below its size", patchPeak);
  const uploadE = locE.pathname.split("/").pop();
  streaming.patch40 = { messages: rec.request_messages, pulledAtFirst: rec.pulled_at_first, peakBytes: patchPeak };
  step("6b. 40 MiB PATCH streamed into the app", streaming.patch40);

  // 6c. A PATCH whose body breaks off: the app gets http.disconnect and tus keeps what arrived.
  const dataF = randomFillSync(new Uint8Array(2 * MIB));
  const locF = await createUpload(dataF.byteLength, "interrupted.bin");
  r = await worker.fetch(
    direct(locF.pathname, {
      method: "PATCH",
      headers: { ...TUS, ...auth, "Upload-Offset": "0", "Content-Type": OFFSET_TYPE, "X-Probe": "patch-broken" },
      body: pieces("patch-broken", dataF, 3),
    }),
  );
  expect(r.status === 204 && r.headers.get("upload-offset") === String(3 * PIECE), "an interrupted PATCH keeps the bytes that arrived", [r.status, r.headers.get("upload-offset")]);
  expect(probe("patch-broken").disconnect_received, "the broken body reached the app as http.disconnect");
  r = await fetch(locF, {
    method: "PATCH",
    headers: { ...TUS, ...auth, "Upload-Offset": String(3 * PIECE), "Content-Type": OFFSET_TYPE },
    body: dataF.subarray(3 * PIECE),
  });
  expect(r.status === 204 && r.headers.get("upload-offset") === String(dataF.byteLength), "resumed after the break", r.status);
  const storedF = await bucket.get(`originals/${config.userId}/${locF.pathname.split("/").pop()}`);
  expect(sha(new Uint8Array(await new Response(storedF.body).arrayBuffer())) === sha(dataF), "resumed upload F is byte-identical");
  step("6c. interrupted PATCH kept its bytes, resumed");

  // 6d. request.cf's location picks the download region and beats client-sent headers.
  const fileA = jobA.file_id;
  const spoofed = { ...auth, "X-Mediagate-Country": "US", "X-Mediagate-Continent": "NA", "CF-Connecting-IP": "203.0.113.7" };
  r = await worker.fetch(direct(`/api/files/${fileA}/download`, { headers: { ...spoofed, "X-Probe": "region-cf" } }, { country: "DE", continent: "EU", colo: "FRA" }));
  let link = await r.json();
  expect(r.status === 200 && link.region === "eu" && link.region_reason === "continent", "request.cf continent EU picks the eu region", link);
  expect(link.url.startsWith("https://eu.files.example/api/objects/"), "the eu region's host serves the link", link.url);
  rec = probe("region-cf");
  expect(rec.country === "DE" && rec.continent === "EU", "cf country/continent replace the client's headers", rec);
  expect(JSON.stringify(rec.client) === JSON.stringify(["203.0.113.7", 0]), "scope client from CF-Connecting-IP", rec.client);
  expect(rec.scheme === "http" && rec.server[1] === server.address().port, "scope server and scheme from the URL", rec);
  r = await worker.fetch(direct(`/api/files/${fileA}/download`, { headers: spoofed }));
  link = await r.json();
  expect(link.region === "us" && link.region_reason === "country", "without request.cf the headers decide (local semantics)", link);
  r = await fetch(`${base}/api/files/${fileA}/download`, { headers: auth });
  link = await r.json();
  expect(link.region === "us" && link.region_reason === "default", "no location: the default region", link);
  streaming.region = { cf: "eu", headersOnly: "us" };
  step("6d. request.cf picks the download region");

  // 6e. A 40 MiB download: the R2 object stream becomes the Response body as it is.
  r = await fetch(`${base}/api/files/${jobFor(uploadE).file_id}/download`, { headers: auth });
  const objectUrl = new URL((await r.json()).url);
  const objectPath = objectUrl.pathname + objectUrl.search;
  const pendingBefore = waitUntil.length;
  checks.trace_start();
  r = await worker.fetch(direct(objectPath, { headers: { "X-Probe": "download-40" } }));
  expect(r.status === 200 && r.headers.get("content-length") === String(dataE.byteLength), "object download: 200 with Content-Length", [r.status, [...r.headers]]);
  rec = probe("download-40");
  // The R2 object's stream is the Response body (http.response.js_stream): the bytes never
  // pass through Python, back-pressure is the runtime's own.
  expect(rec.js_stream && rec.body_messages === 0, "the R2 stream went to the Response as it is", rec);
  const download = await readAllChunks(r.body);
  expect(download.bytes.byteLength === dataE.byteLength && sha(download.bytes) === sha(dataE), "the 40 MiB download is byte-identical");
  expect(download.chunks.length >= 100, "the body arrived chunk by chunk", download.chunks.length);
  await Promise.allSettled(waitUntil.slice(pendingBefore));
  const downloadPeak = checks.trace_peak();
  expect(downloadPeak < 1 * MIB, "peak Python memory during a 40 MiB download", downloadPeak);
  streaming.download40 = { chunks: download.chunks.length, jsStream: rec.js_stream, peakBytes: downloadPeak };
  r = await fetch(`${base}${objectPath}`, { headers: { Range: "bytes=1000-2000999" } });
  const ranged = Buffer.from(await r.arrayBuffer());
  expect(r.status === 206 && r.headers.get("content-range") === `bytes 1000-2000999/${dataE.byteLength}`, "ranged download", [r.status, r.headers.get("content-range")]);
  expect(sha(ranged) === sha(dataE.subarray(1000, 2001000)), "the range is byte-identical");
  step("6e. 40 MiB download: the R2 stream handed to the Response", streaming.download40);

  // 6f. The batch ZIP over HTTP: the client reads while the app is still writing.
  const zipFiles = { "blob.bin": uploadA, "streamed.bin": uploadD, "photo.jpg": uploadB };
  checks.trace_start();
  r = await fetch(`${base}/api/files/batch-download`, {
    method: "POST",
    headers: { ...auth, "Content-Type": "application/json", "X-Probe": "zip" },
    body: JSON.stringify({ ids: [jobA.file_id, jobFor(uploadD).file_id, jobB.file_id], mode: "zip" }),
  });
  expect(r.status === 200 && r.headers.get("content-type") === "application/zip", "batch ZIP", r.status);
  const zipLength = Number(r.headers.get("content-length"));
  const zipReader = r.body.getReader();
  const zipChunks = [];
  let next = await zipReader.read();
  const sentAtFirst = probe("zip").body_messages;
  while (!next.done) {
    zipChunks.push(next.value);
    next = await zipReader.read();
  }
  const zipBytes = Buffer.concat(zipChunks);
  expect(await until(() => probe("zip").done), "the ZIP response finished");
  const zipPeak = checks.trace_peak();
  rec = probe("zip");
  expect(zipBytes.byteLength === zipLength && rec.body_bytes === zipLength, "the ZIP has its Content-Length", [zipBytes.byteLength, zipLength, rec.body_bytes]);
  expect(rec.sha256 === sha(zipBytes), "the ZIP the client got is byte-identical to what the app sent");
  expect(sentAtFirst < rec.body_messages / 2, "the first bytes reached the client while the app was still zipping", [sentAtFirst, rec.body_messages]);
  expect(zipPeak < zipLength / 4, "peak Python memory while zipping", zipPeak);
  const zipPath = path.join(config.dataDir, "batch.zip");
  fs.writeFileSync(zipPath, zipBytes);
  streaming.zip = { path: zipPath, members: zipFiles, bytes: zipLength, messages: rec.body_messages, sentAtFirst, peakBytes: zipPeak };
  step("6f. batch ZIP streamed", { bytes: zipLength, messages: rec.body_messages, sentAtFirst });

  // 6g. HEAD and 204: null bodies, headers kept.
  r = await worker.fetch(direct(objectPath, { method: "HEAD" }));
  expect(r.status === 200 && r.body === null && r.headers.get("content-length") === String(dataE.byteLength), "HEAD object: null body, Content-Length kept", [r.status, [...r.headers]]);
  r = await worker.fetch(direct(locD.pathname, { method: "HEAD", headers: { ...TUS, ...auth } }));
  expect(r.status === 200 && r.body === null && r.headers.get("upload-offset") === String(dataD.byteLength), "HEAD upload: null body", r.status);
  r = await worker.fetch(direct("/api/upload", { method: "OPTIONS", headers: TUS }));
  expect(r.status === 204 && r.body === null && r.headers.get("tus-version") === "1.0.0", "OPTIONS: 204 with a null body", r.status);
  r = await worker.fetch(direct("/api/nowhere", { method: "HEAD" }));
  expect(r.status === 404 && r.body === null, "HEAD 404: null body", r.status);
  r = await worker.fetch(direct("/api/files/batch-download", { method: "POST", headers: auth })); // body null
  expect(r.status === 400 || r.status === 422, "a POST without a body gets an answer, not a hang", [r.status, await r.text()]);
  step("6g. HEAD and 204");

  // 6h. Misbehaving apps (checks.Probe's /__probe/ paths) and a client that goes away.
  r = await worker.fetch(direct("/__probe/raise-before"));
  let body = await r.json();
  expect(r.status === 500 && typeof body.error === "string" && r.headers.get("content-type") === "application/json", "an app error before the response: 500 JSON", [r.status, body]);
  r = await worker.fetch(direct("/__probe/no-response"));
  expect(r.status === 500 && typeof (await r.json()).error === "string", "no response at all: 500 JSON", r.status);
  r = await worker.fetch(direct("/__probe/raise-after"));
  expect(r.status === 200 && (await r.text()) === "complete", "an error after a complete response does not touch it", r.status);
  r = await worker.fetch(direct("/__probe/raise-midstream"));
  expect(r.status === 200, "midstream: the response had started", r.status);
  const broken = r.body.getReader();
  const firstBroken = await broken.read();
  let brokeOff = null;
  try {
    await broken.read();
  } catch (e) {
    brokeOff = String(e?.message ?? e);
  }
  expect(firstBroken.value?.byteLength === 64 * KIB && brokeOff !== null, "an error midstream aborts the body (the client sees it broken)", brokeOff);
  r = await worker.fetch(direct("/__probe/stream?chunks=20&size=65536"));
  expect(r.status === 200 && r.headers.get("content-length") === null, "unknown length: a plain identity stream", [...r.headers]);
  const plain = await readAllChunks(r.body);
  expect(plain.bytes.byteLength === 20 * 65536 && plain.bytes[65536 * 19] === 19, "the unknown-length stream is complete", plain.bytes.byteLength);
  r = await worker.fetch(direct("/__probe/endless"));
  const endless = r.body.getReader();
  for (let i = 0; i < 3; i++) await endless.read();
  await endless.cancel("the reader stopped");
  expect(await until(() => probe("/__probe/endless")?.done), "a cancelled body ends the app", probe("/__probe/endless"));
  expect(probe("/__probe/endless").send_error === "OSError", "the app's send raised OSError (ASGI 2.4 disconnect)", probe("/__probe/endless"));
  const aborter = new AbortController();
  r = await fetch(`${base}/__probe/endless`, { headers: { "X-Probe": "endless-http" }, signal: aborter.signal });
  const overHttp = r.body.getReader();
  for (let i = 0; i < 3; i++) await overHttp.read();
  aborter.abort();
  expect(await until(() => probe("endless-http")?.done), "an HTTP client that goes away ends the app", probe("endless-http"));
  expect(probe("endless-http").send_error === "OSError", "... through OSError from send", probe("endless-http"));
  step("6h. errors and disconnects");

  await Promise.allSettled(waitUntil);
  result.runtime = checks.runtime_state().toJs({ dict_converter: Object.fromEntries });
  expect(result.runtime.threads === 1, "no thread was started in the Worker", result.runtime);
  expect(result.runtime.local_modules_loaded.length === 0, "no CPython-only module was loaded", result.runtime);
  result.seconds = (Date.now() - started) / 1000;
}

let code = 0;
try {
  await main();
} catch (e) {
  console.error(e?.stack ?? String(e));
  result.error = String(e?.message ?? e);
  code = 1;
} finally {
  for (const c of cleanups.reverse()) {
    try {
      await c();
    } catch (e) {
      console.error("cleanup:", e);
    }
  }
  clearTimeout(guard);
}
console.log(`RESULT ${JSON.stringify(result)}`);
process.exit(code);
