// The Worker on Pyodide, in Node: worker/src/entry.py with the vendored python_modules
// (the real workers-runtime-sdk included), against the JS bindings of fakes.mjs.
//
//   node tests/pyodide/run.mjs CONFIG.json      (driven by tests/test_pyodide_worker.py)
//
// 1. Import checks: every Worker module imports on Pyodide (Python 3.14, the Workers
//    runtime's version for wrangler.toml's compatibility date) from python_modules only;
//    modules that start a thread or need a C extension fail.
// 2. The Worker serves HTTP: a Node server turns requests into JS Requests for
//    Default.fetch (workers.asgi -> Starlette); tus uploads through it store objects in
//    the R2Bucket (multipart via FixedLengthStream) and rows through the Neon adapter,
//    whose js.fetch reaches the Neon HTTP fixture (real Postgres) started by pytest.
// 3. Default.queue pushes the queued jobs through the PROCESSOR Durable Object namespace
//    to ProcessorContainer, which starts the real processor (ctx.container.start) and
//    forwards; the processor's webhooks come back to this Worker over HTTP.
// 4. Failure paths: missing original (503 -> retry with the processor's delay, final
//    attempt -> failed), container that exits on start, missing secrets.
// 5. Cron (Default.scheduled) and the idle alarm that stops the container.
//
// Prints one line "RESULT <json>" for pytest; any failed expectation exits non-zero.
import { createHash } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { Readable } from "node:stream";
import {
  Container,
  DurableObjectNamespace,
  FixedLengthStream,
  Message,
  MessageBatch,
  R2Bucket,
  WorkerQueue,
  freePort,
} from "./fakes.mjs";

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
const guard = setTimeout(() => {
  console.error("run.mjs: timed out");
  process.exit(3);
}, (config.timeoutSeconds ?? 110) * 1000);

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
  py.registerJsModule("mediagate_harness", {
    cloudflareWorkers: { env, waitUntil: (p) => waitUntil.push(p) },
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
            // Only what differs from Cloudflare: the host port, and the local store (the same
            // files R2Bucket wrote) standing in for R2's S3 API.
            PROCESSOR_HOST: "127.0.0.1",
            PROCESSOR_PORT: String(ports[n++ % ports.length]),
            STORE_BACKEND: "local",
            DATA_DIR: config.dataDir,
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
  const webhooks = [];
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
      const body = Buffer.from(await response.arrayBuffer());
      if (req.url.startsWith("/webhook/")) webhooks.push({ path: req.url, status: response.status });
      res.writeHead(response.status, Object.fromEntries(response.headers));
      res.end(req.method === "HEAD" ? undefined : body);
    } catch (e) {
      log("worker fetch failed:", e);
      res.writeHead(500);
      res.end(String(e));
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
    R2_BUCKET: "mediagate-media",
    R2_ACCOUNT_ID: "0123456789abcdef0123456789abcdef",
    R2_ACCESS_KEY_ID: "test-access-key",
    R2_SECRET_ACCESS_KEY: "test-secret-key",
    PROCESSOR_INSTANCES: "1",
    PROCESSOR_IDLE_SECONDS: "1",
    PROCESSOR_START_TIMEOUT: "60",
    PROCESSOR_RETRY_DELAY: "7",
    RETRY_BASE_DELAY: "2",
    LOG_LEVEL: "WARNING",
    WORKER_URL: base,
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

  // A: 12 MiB + 12,345 bytes of an unknown type in odd chunks -> 3 parts of 5/5/2+ MiB.
  const dataA = new Uint8Array(12 * MIB + 12345);
  for (let i = 0; i < dataA.length; i += 65536) dataA.set(crypto.getRandomValues(new Uint8Array(Math.min(65536, dataA.length - i))), i);
  const uploadA = await tusUpload(dataA, [700001, 2 * MIB + 3, 3 * MIB + 5, 1, 5 * MIB + 7], "blob.bin", "application/octet-stream");
  const keyA = `originals/${config.userId}/${uploadA}`;
  const storedA = await bucket.get(keyA);
  expect(storedA !== null, "original A stored");
  const bytesA = new Uint8Array(await new Response(storedA.body).arrayBuffer());
  const sha = (d) => createHash("sha256").update(d).digest("hex");
  expect(sha(bytesA) === sha(dataA), "original A is byte-identical");
  expect(JSON.stringify(bucket.partSizes) === JSON.stringify([5 * MIB, 5 * MIB, dataA.length - 10 * MIB]), "equal 5 MiB parts, last smaller", bucket.partSizes);
  expect(bucket.partBodyKinds.every((k) => k === "stream"), "parts streamed through FixedLengthStream", bucket.partBodyKinds);
  expect((await bucket.list({ prefix: `staging/${uploadA}/` })).objects.length === 0, "staging cleaned up");
  expect(bucket.uploads.size === 0, "no open multipart upload");
  step("tus upload A (multipart)", { uploadA, parts: bucket.partSizes });

  // B: a real JPEG (made by pytest) in two chunks.
  const jpeg = new Uint8Array(fs.readFileSync(config.jpegPath));
  const uploadB = await tusUpload(jpeg, [Math.floor(jpeg.length / 3)], "photo.jpg", "image/jpeg");
  // C: a small file whose original will go missing before processing.
  const uploadC = await tusUpload(crypto.getRandomValues(new Uint8Array(4096)), [1000], "gone.bin", "application/octet-stream");
  step("tus uploads B, C", { uploadB, uploadC });

  expect(queue.sent.length === 3, "one job message per completed upload", queue.sent.length);
  for (const m of queue.sent) expect(m.options?.contentType === "json", "messages sent as JSON", m.options);
  const jobFor = (uploadId) => queue.sent.find((m) => m.body.object_key.endsWith(`/${uploadId}`)).body;
  const [jobA, jobB, jobC] = [jobFor(uploadA), jobFor(uploadB), jobFor(uploadC)];
  expect(jobB.file_type === "image" && jobA.file_type === "other", "classified", [jobA.file_type, jobB.file_type]);
  result.uploads = { A: uploadA, B: uploadB, C: uploadC };
  result.jobs = { A: jobA.job_id, B: jobB.job_id, C: jobC.job_id };

  // -- 3. the consumer pushes A and B to the container ------------------------------------
  const batch = new MessageBatch("mediagate-jobs", [new Message(jobA), new Message(jobB)]);
  await worker.queue(batch);
  for (const m of batch.messages) expect(m.settled?.action === "ack", "processed jobs are acked", m.settled);
  const main0 = containers[0];
  expect(containers.length === 1 && main0.startCalls.length === 1, "one container started once for two concurrent jobs", containers.map((c) => c.startCalls.length));
  result.containerStart = main0.startCalls[0];
  step("queue batch A+B acked");

  r = await processorNs.getByName("processor-0").fetch("http://do/status");
  expect(r.status === 200 && (await r.json()).running === true, "DO /status reports the running container");

  // -- 4. failure paths ---------------------------------------------------------------------
  await bucket.delete(jobC.object_key);
  const first = new Message(jobC, 1);
  await worker.queue(new MessageBatch("mediagate-jobs", [first]));
  expect(first.settled?.action === "retry" && first.settled.delaySeconds === 2, "missing original: retried with the processor's delay", first.settled);
  const last = new Message(jobC, 3);
  await worker.queue(new MessageBatch("mediagate-jobs", [last]));
  expect(last.settled?.action === "retry", "final attempt: retried so Queues dead-letters it", last.settled);
  expect(main0.startCalls.length === 1, "the running container was reused");
  step("missing original: retry, then final failure");

  const exitingNs = await makeNamespace([config.python, "-c", "import sys; sys.exit(3)"], "exiting");
  const env2 = { ...env, PROCESSOR: exitingNs };
  exitingNs.env = env2;
  const msg2 = new Message(jobA, 1);
  await Default(ctx, env2).queue(new MessageBatch("mediagate-jobs", [msg2]));
  expect(msg2.settled?.action === "retry" && msg2.settled.delaySeconds === 7, "container that exits on start: retry after PROCESSOR_RETRY_DELAY", msg2.settled);

  const noSecretNs = await makeNamespace([config.python, "-m", "processor.service"], "nosecret");
  const env3 = { ...env, PROCESSOR: noSecretNs, R2_ACCESS_KEY_ID: undefined };
  delete env3.R2_ACCESS_KEY_ID;
  noSecretNs.env = env3;
  const msg3 = new Message(jobA, 1);
  await Default(ctx, env3).queue(new MessageBatch("mediagate-jobs", [msg3]));
  expect(msg3.settled?.action === "retry", "missing secret: retry", msg3.settled);
  expect(containers.at(-1).startCalls.length === 0, "missing secret: the container is not started");
  step("unavailable container paths");

  // Webhooks from the processor reach this Worker: complete for A and B, failed for C.
  const deadline = Date.now() + 30000;
  const want = () =>
    webhooks.filter((w) => w.path.endsWith("processing-complete") && w.status === 200).length >= 2 &&
    webhooks.some((w) => w.path.endsWith("processing-failed") && w.status === 200);
  while (!want() && Date.now() < deadline) await new Promise((res) => setTimeout(res, 200));
  expect(want(), "processor webhooks answered 200 by the Worker", webhooks);
  result.webhooks = webhooks;
  step("webhooks received", { count: webhooks.length });

  // -- 5. cron and the idle alarm ------------------------------------------------------------
  await worker.scheduled({ cron: "*/15 * * * *", scheduledTime: Date.now() });
  const doEntry = processorNs.instances.get("processor-0");
  expect(doEntry.state.storage.alarm !== null, "an idle alarm is scheduled");
  await new Promise((res) => setTimeout(res, 1200));
  await doEntry.object.alarm();
  await main0.exited;
  expect(!main0.running, "the idle alarm stopped the container");
  step("cron ran; idle alarm stopped the container");

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
