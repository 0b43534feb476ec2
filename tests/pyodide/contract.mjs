// Contract scenarios for the JS stand-ins of fakes.mjs (issue #9).
//
// Each scenario takes bindings and returns a list of observations: what a call returned or
// which error it threw. tests/pyodide/contract_run.mjs runs every scenario twice, against
// the stand-ins of fakes.mjs in plain Node and inside a JS Worker in Miniflare (the pinned
// workerd) against the real R2 bucket, Durable Object namespace and queues; then
// tests/test_fake_contracts.py asserts the two lists are equal. A stand-in that drifts from
// the runtime in something the Worker relies on fails there, not in production.
//
// Plain JavaScript, no Node imports: this module is loaded by workerd as well.
//
//   b.bucket             R2Bucket
//   b.ns                 DurableObjectNamespace whose objects run `objectFetch` below
//   b.queue              the producer of queue "contract-jobs" (consumer: `consume` below,
//                        max_retries 2, dead-letter queue "contract-dlq", also consumed)
//   b.deliveries         what `consume` recorded, in delivery order
//   b.FixedLengthStream  the Workers global (or its stand-in)

const MIB = 1024 * 1024;
export const JOBS_QUEUE = "contract-jobs";
export const DEAD_LETTER_QUEUE = "contract-dlq";
export const MAX_RETRIES = 2;

// -- helpers -----------------------------------------------------------------------------------

// An error as the Worker sees it: its class, message (etags and ids masked) and whether the
// text carries what r2_store.py looks for.
function failure(e) {
  const message = String(e?.message ?? e);
  return { error: e?.name ?? typeof e, message: mask(message) };
}

function mask(text) {
  return text.replace(/\b[0-9a-f]{32,}\b/g, "<hex>").replace(/[A-Za-z0-9_-]{60,}/g, "<id>");
}

async function attempt(fn) {
  try {
    const value = await fn();
    return { ok: describe(value) };
  } catch (e) {
    return failure(e);
  }
}

function describe(value) {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  if (typeof value !== "object") return value;
  if (value instanceof Date) return "Date";
  if (value instanceof ArrayBuffer) return `ArrayBuffer(${value.byteLength})`;
  if (ArrayBuffer.isView(value)) return `${value.constructor.name}(${value.byteLength})`;
  if ("key" in value && "size" in value && "etag" in value) return objectShape(value);
  return JSON.parse(JSON.stringify(value));
}

// An R2Object as the adapter reads it (key, size, etag, httpMetadata.contentType) plus the
// types of the rest; etags as their format, not their value.
function objectShape(obj) {
  const etag = String(obj.etag);
  return {
    key: obj.key,
    size: obj.size,
    etag: /^[0-9a-f]{32}$/.test(etag) ? "md5" : /^[0-9a-f]{32}-\d+$/.test(etag) ? `md5-${etag.split("-")[1]}` : `other:${etag.length}`,
    httpEtagQuoted: obj.httpEtag === `"${etag}"`,
    contentType: obj.httpMetadata?.contentType ?? null,
    customMetadata: obj.customMetadata ?? null,
    version: typeof obj.version,
    uploaded: obj.uploaded instanceof Date,
    body: "body" in obj ? (obj.body instanceof ReadableStream ? "ReadableStream" : String(obj.body)) : "absent",
  };
}

async function text(obj) {
  if (obj === null) return null;
  return await new Response(obj.body).text();
}

async function sha256(bytes) {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(digest)].map((x) => x.toString(16).padStart(2, "0")).join("");
}

function filled(size, seed) {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i += 4096) data[i] = (i / 4096 + seed) % 251;
  return data;
}

async function put(b, key, body, options) {
  return await attempt(() => b.bucket.put(key, body, options));
}

// -- R2: objects ---------------------------------------------------------------------------------

async function r2Objects(b) {
  const out = [];
  const rec = (what, result) => out.push({ what, ...result });
  rec("put text with contentType", await put(b, "obj/a.txt", "hello world", { httpMetadata: { contentType: "text/plain" } }));
  rec("put bytes", await put(b, "obj/b.bin", new Uint8Array([1, 2, 3])));
  rec("put ArrayBuffer", await put(b, "obj/c.bin", new Uint8Array([4, 5]).buffer));
  rec("put empty", await put(b, "obj/empty", new Uint8Array(0)));
  rec("head", await attempt(() => b.bucket.head("obj/a.txt")));
  rec("head missing", await attempt(() => b.bucket.head("obj/nope")));
  rec("get missing", await attempt(() => b.bucket.get("obj/nope")));
  rec("get", await attempt(() => b.bucket.get("obj/a.txt")));
  rec("get text", await attempt(async () => await text(await b.bucket.get("obj/a.txt"))));
  rec("get empty text", await attempt(async () => await text(await b.bucket.get("obj/empty"))));
  rec("overwrite drops contentType", await put(b, "obj/a.txt", "replaced"));
  rec("head after overwrite", await attempt(() => b.bucket.head("obj/a.txt")));

  // Stream bodies: R2 needs a known length.
  const unknown = new ReadableStream({
    start(c) {
      c.enqueue(new Uint8Array([1, 2, 3]));
      c.close();
    },
  });
  rec("put stream of unknown length", await put(b, "obj/stream", unknown));
  const fixed = new b.FixedLengthStream(6);
  const writing = (async () => {
    const w = fixed.writable.getWriter();
    await w.write(new Uint8Array([1, 2, 3]));
    await w.write(new Uint8Array([4, 5, 6]));
    await w.close();
  })();
  rec("put FixedLengthStream", await put(b, "obj/fixed", fixed.readable));
  rec("FixedLengthStream writer", await attempt(() => writing));
  rec("get FixedLengthStream object", await attempt(async () => [...new Uint8Array(await new Response((await b.bucket.get("obj/fixed")).body).arrayBuffer())]));
  const short = new b.FixedLengthStream(6);
  const shortWriting = (async () => {
    const w = short.writable.getWriter();
    await w.write(new Uint8Array([1, 2, 3]));
    await w.close();
  })();
  rec("put FixedLengthStream that gets too few bytes", await put(b, "obj/short", short.readable));
  rec("short writer", await attempt(() => shortWriting));
  rec("head short", await attempt(() => b.bucket.head("obj/short")));
  const long = new b.FixedLengthStream(2);
  const longWriting = (async () => {
    const w = long.writable.getWriter();
    await w.write(new Uint8Array([1, 2, 3]));
    await w.close();
  })();
  rec("put FixedLengthStream that gets too many bytes", await put(b, "obj/long", long.readable));
  rec("long writer", await attempt(() => longWriting));
  rec("head long", await attempt(() => b.bucket.head("obj/long")));

  // delete and list
  rec("delete one", await attempt(() => b.bucket.delete("obj/b.bin")));
  rec("delete missing", await attempt(() => b.bucket.delete("obj/nope")));
  rec("delete list", await attempt(() => b.bucket.delete(["obj/c.bin", "obj/nope2"])));
  rec("head deleted", await attempt(() => b.bucket.head("obj/b.bin")));
  // (Production R2 refuses more than 1,000 keys per delete and list page; Miniflare does
  // not, so that limit is not part of this contract. The stand-in keeps it.)
  const keys = Array.from({ length: 1000 }, (_, i) => `obj/many/${i}`);
  rec("delete 1000 keys", await attempt(() => b.bucket.delete(keys)));
  for (const k of ["list/a", "list/b/1", "list/b/2", "list/c", "list/d", "lisz"]) await b.bucket.put(k, k);
  const listed = async (options) => {
    const r = await b.bucket.list(options);
    return { keys: r.objects.map((o) => o.key), sizes: r.objects.map((o) => o.size), truncated: r.truncated, cursor: typeof r.cursor, delimitedPrefixes: r.delimitedPrefixes };
  };
  rec("list prefix", await attempt(() => listed({ prefix: "list/" })));
  rec("list page 1", await attempt(() => listed({ prefix: "list/", limit: 2 })));
  rec(
    "list page 2",
    await attempt(async () => {
      const first = await b.bucket.list({ prefix: "list/", limit: 2 });
      return await listed({ prefix: "list/", limit: 2, cursor: first.cursor });
    }),
  );
  rec(
    "list last page",
    await attempt(async () => {
      const first = await b.bucket.list({ prefix: "list/", limit: 4 });
      return await listed({ prefix: "list/", limit: 4, cursor: first.cursor });
    }),
  );
  rec("list nothing", await attempt(() => listed({ prefix: "none/" })));
  rec("list objects carry httpMetadata", await attempt(async () => (await b.bucket.list({ prefix: "list/a" })).objects.map(objectShape)));
  return out;
}

// -- R2: ranged reads ----------------------------------------------------------------------------

async function r2Ranges(b) {
  const out = [];
  await b.bucket.put("range/ten", "0123456789");
  await b.bucket.put("range/empty", "");
  const ranged = async (key, range) => {
    const obj = await b.bucket.get(key, { range });
    return obj === null ? null : { size: obj.size, text: await text(obj) };
  };
  const cases = [
    ["range/ten", { offset: 2, length: 3 }],
    ["range/ten", { offset: 7 }],
    ["range/ten", { offset: 0, length: 10 }],
    ["range/ten", { offset: 8, length: 5 }], // past the end: clamped
    ["range/ten", { offset: 9, length: 1 }],
    ["range/ten", { offset: 10 }], // at the end
    ["range/ten", { offset: 10, length: 1 }],
    ["range/ten", { offset: 10, length: 5 }],
    ["range/ten", { offset: 11, length: 1 }],
    ["range/ten", { offset: 12, length: 1 }], // past the end
    ["range/ten", { offset: 12 }],
    ["range/ten", { offset: 3, length: 0 }],
    ["range/ten", { offset: 10, length: 0 }],
    ["range/ten", { suffix: 20 }],
    ["range/ten", { suffix: 0 }],
    ["range/ten", { suffix: 4 }],
    ["range/ten", { length: 4 }],
    ["range/empty", { offset: 0 }], // any range of an empty object
    ["range/empty", { offset: 0, length: 1 }],
    ["range/empty", { offset: 0, length: 0 }],
    ["range/empty", { suffix: 1 }],
    ["range/empty", { offset: 1, length: 1 }],
    ["range/missing", { offset: 1, length: 1 }],
  ];
  for (const [key, range] of cases) out.push({ key, range, ...(await attempt(() => ranged(key, range))) });
  return out;
}

// -- R2: multipart -------------------------------------------------------------------------------

async function r2Multipart(b) {
  const out = [];
  const rec = (what, result) => out.push({ what, ...result });
  const part = (p) => (p && typeof p === "object" ? { partNumber: p.partNumber, etag: typeof p.etag } : p);
  const up = await b.bucket.createMultipartUpload("mp/ok", { httpMetadata: { contentType: "video/mp4" } });
  rec("create", { ok: { key: up.key, uploadId: typeof up.uploadId } });
  const data = [filled(5 * MIB, 1), filled(5 * MIB, 2), filled(12345, 3)];
  const parts = [];
  for (let i = 0; i < 3; i++) {
    const r = await attempt(async () => part((parts[i] = await up.uploadPart(i + 1, data[i]))));
    rec(`uploadPart ${i + 1}`, r);
  }
  rec("in-progress upload is no object", await attempt(() => b.bucket.head("mp/ok")));
  const resumed = b.bucket.resumeMultipartUpload("mp/ok", up.uploadId);
  rec("resume is synchronous", { ok: { then: typeof resumed.then, key: resumed.key, sameId: resumed.uploadId === up.uploadId } });
  rec("complete", await attempt(() => resumed.complete(parts)));
  rec(
    "completed bytes",
    await attempt(async () => {
      const all = new Uint8Array(await new Response((await b.bucket.get("mp/ok")).body).arrayBuffer());
      const expected = new Uint8Array(data.reduce((n, d) => n + d.byteLength, 0));
      let at = 0;
      for (const d of data) {
        expected.set(d, at);
        at += d.byteLength;
      }
      return (await sha256(all)) === (await sha256(expected));
    }),
  );
  rec("complete twice", await attempt(() => up.complete(parts)));
  rec("uploadPart after complete", await attempt(async () => part(await up.uploadPart(4, new Uint8Array(10)))));
  rec("abort after complete", await attempt(() => up.abort()));

  // A single part may be of any size; a stream part needs a known length.
  const single = await b.bucket.createMultipartUpload("mp/single");
  const p1 = await single.uploadPart(1, new Uint8Array(100));
  rec("single small part", await attempt(() => single.complete([p1])));
  const streamed = await b.bucket.createMultipartUpload("mp/streamed");
  const fixed = new b.FixedLengthStream(5 * MIB);
  const writer = (async () => {
    const w = fixed.writable.getWriter();
    for (let i = 0; i < 5; i++) await w.write(filled(MIB, i));
    await w.close();
  })();
  rec("uploadPart FixedLengthStream", await attempt(async () => part(await streamed.uploadPart(1, fixed.readable))));
  await writer;
  const unknown = new ReadableStream({
    start(c) {
      c.enqueue(new Uint8Array(10));
      c.close();
    },
  });
  rec("uploadPart stream of unknown length", await attempt(async () => part(await streamed.uploadPart(2, unknown))));
  rec("uploadPart number 0", await attempt(async () => part(await streamed.uploadPart(0, new Uint8Array(1)))));
  rec("uploadPart number 10001", await attempt(async () => part(await streamed.uploadPart(10001, new Uint8Array(1)))));
  rec("uploadPart number 10000", await attempt(async () => part(await streamed.uploadPart(10000, new Uint8Array(1)))));
  await streamed.abort();
  return out;
}

async function r2MultipartErrors(b) {
  const out = [];
  const rec = (what, result) => out.push({ what, ...result });
  const upload = async (key, sizes) => {
    const up = await b.bucket.createMultipartUpload(key);
    const parts = [];
    for (let i = 0; i < sizes.length; i++) parts.push(await up.uploadPart(i + 1, filled(sizes[i], i)));
    return { up, parts };
  };
  let u = await upload("mpe/small", [1 * MIB, 1 * MIB]);
  rec("non-final part below 5 MiB", await attempt(() => u.up.complete(u.parts)));
  rec("the upload survives a refused complete", await attempt(async () => (await u.up.uploadPart(3, new Uint8Array(1))).partNumber));
  u = await upload("mpe/unequal", [6 * MIB, 5 * MIB, 1000]);
  rec("non-final parts of unequal size", await attempt(() => u.up.complete(u.parts)));
  u = await upload("mpe/lastlarger", [5 * MIB, 5 * MIB + 1]);
  rec("last part larger than the others", await attempt(() => u.up.complete(u.parts)));
  u = await upload("mpe/missing", [5 * MIB, 1000]);
  rec("complete with an unknown part number", await attempt(() => u.up.complete([u.parts[0], { partNumber: 3, etag: u.parts[1].etag }])));
  rec("complete with a wrong etag", await attempt(() => u.up.complete([u.parts[0], { partNumber: 2, etag: "0".repeat(32) }])));
  rec("complete out of order", await attempt(async () => (await u.up.complete([u.parts[1], u.parts[0]])).size));
  u = await upload("mpe/dup", [5 * MIB, 1000]);
  rec("complete with a part listed twice", await attempt(async () => (await u.up.complete([u.parts[0], u.parts[0], u.parts[1]])).size));
  u = await upload("mpe/leftout", [5 * MIB, 5 * MIB, 1000]);
  rec("complete with a middle part left out", await attempt(async () => (await u.up.complete([u.parts[0], u.parts[2]])).size));
  u = await upload("mpe/none", [5 * MIB]);
  rec("complete with no parts", await attempt(() => u.up.complete([])));
  u = await upload("mpe/reupload", [5 * MIB, 1000]);
  const again = await u.up.uploadPart(2, filled(2000, 9));
  rec("re-uploaded part, old etag", await attempt(() => u.up.complete(u.parts)));
  rec("re-uploaded part, new etag", await attempt(async () => (await u.up.complete([u.parts[0], again])).size));
  u = await upload("mpe/aborted", [1000]);
  rec("abort", await attempt(() => u.up.abort()));
  rec("uploadPart after abort", await attempt(() => u.up.uploadPart(2, new Uint8Array(10))));
  rec("complete after abort", await attempt(() => u.up.complete(u.parts)));
  rec("abort after abort", await attempt(() => u.up.abort()));
  const ghost = b.bucket.resumeMultipartUpload("mpe/ghost", "2~ghost0000000000000000000000000000000000");
  rec("resume unknown id", { ok: typeof ghost });
  rec("uploadPart to an unknown id", await attempt(() => ghost.uploadPart(1, new Uint8Array(10))));
  rec("complete an unknown id", await attempt(() => ghost.complete([{ partNumber: 1, etag: "0".repeat(32) }])));
  rec("abort an unknown id", await attempt(() => ghost.abort()));
  u = await upload("mpe/otherkey", [1000]);
  const wrongKey = b.bucket.resumeMultipartUpload("mpe/elsewhere", u.up.uploadId);
  rec("uploadPart with another key's upload id", await attempt(() => wrongKey.uploadPart(2, new Uint8Array(10))));
  rec("complete with another key's upload id", await attempt(() => wrongKey.complete(u.parts)));
  await u.up.abort();
  return out;
}

// -- Durable Objects -------------------------------------------------------------------------

// The object's fetch handler (the real Worker's ContractObject and the stand-in's factory
// both call this): runs what the request asks for against ctx and answers with JSON.
export async function objectFetch(ctx, request) {
  const path = new URL(request.url).pathname;
  if (path === "/throw") throw new Error("the object failed");
  if (path === "/echo") {
    return Response.json({ method: request.method, headers: Object.fromEntries(request.headers), body: await request.text(), url: request.url });
  }
  if (path === "/storage") {
    const s = ctx.storage;
    const out = [];
    const rec = async (what, fn) => out.push({ what, ...(await attempt(fn)) });
    await rec("get missing", () => s.get("k"));
    await rec("put", () => s.put("k", 42));
    await rec("get", () => s.get("k"));
    await rec("put object", () => s.put("o", { a: [1, 2] }));
    await rec("get object", () => s.get("o"));
    await rec("delete", () => s.delete("k"));
    await rec("delete missing", () => s.delete("k"));
    await rec("getAlarm none", () => s.getAlarm());
    const when = Date.now() + 3600_000;
    await rec("setAlarm number", () => s.setAlarm(when));
    await rec("getAlarm is the number", async () => (await s.getAlarm()) === when);
    await rec("setAlarm Date", () => s.setAlarm(new Date(when + 1000)));
    await rec("getAlarm from a Date", async () => (await s.getAlarm()) === when + 1000);
    await rec("deleteAlarm", () => s.deleteAlarm());
    await rec("getAlarm after delete", () => s.getAlarm());
    out.push({
      what: "ctx",
      container: typeof ctx.container,
      waitUntil: typeof ctx.waitUntil,
      blockConcurrencyWhile: await ctx.blockConcurrencyWhile(async () => "value"),
      idIsObject: typeof ctx.id,
      idLength: String(ctx.id).length,
    });
    return Response.json(out);
  }
  return new Response("not found", { status: 404 });
}

async function durableObjects(b) {
  const out = [];
  const rec = (what, result) => out.push({ what, ...result });
  const ns = b.ns;
  const stub = ns.getByName("processor-0");
  rec("stub shape", {
    ok: {
      fetch: typeof stub.fetch,
      fetchIn: "fetch" in stub,
      ownKeys: Object.keys(stub).sort(),
      name: stub.name,
      idName: stub.id.name,
      idHex: /^[0-9a-f]{64}$/.test(String(stub.id)),
      binding: typeof stub._binding,
      bindingTruthy: Boolean(stub._binding),
      bindingIsNullish: stub._binding === null || stub._binding === undefined,
      anything: typeof stub.anything,
      nested: typeof stub._binding.fetch,
      then: typeof stub.then,
    },
  });
  rec("stub.fetch", await attempt(async () => await (await stub.fetch("http://do/echo", { method: "POST", headers: { "x-attempts": "2" }, body: "job" })).json()));
  rec("stub.fetch with a Request", await attempt(async () => await (await stub.fetch(new Request("http://do/echo?q=1", { method: "PUT", body: "x" }))).json()));
  rec("stub.fetch 404", await attempt(async () => (await stub.fetch("http://do/nowhere")).status));
  rec("stub.fetch when the object throws", await attempt(() => stub.fetch("http://do/throw")));
  rec("stub._binding.fetch (the bug of issue #9)", await attempt(() => stub._binding.fetch("http://do/echo")));
  rec("stub.gateway.fetch (a property the object has)", await attempt(() => stub.gateway.fetch("http://do/echo")));
  rec("await stub.anything", await attempt(() => stub.anything));
  rec("stub.anything()", await attempt(() => stub.anything()));
  rec("namespace._binding", { ok: typeof ns._binding });
  rec("namespace methods", { ok: ["get", "getByName", "idFromName", "idFromString", "newUniqueId"].map((m) => typeof ns[m]) });
  const a = ns.idFromName("processor-0");
  rec("idFromName", {
    ok: {
      name: a.name,
      sameAsStub: a.toString() === stub.id.toString(),
      equals: a.equals(stub.id),
      differs: ns.idFromName("processor-1").toString() !== a.toString(),
      viaString: ns.idFromString(a.toString()).toString() === a.toString(),
      stubOfId: ns.get(a).name ?? null,
    },
  });
  rec("storage and ctx", await attempt(async () => await (await stub.fetch("http://do/storage")).json()));
  return out;
}

// -- Queues ---------------------------------------------------------------------------------

// The consumer of both queues: records each delivery, then does what the message's plan
// says for this attempt ("ack", "retry", "retry:<seconds>", "none", "throw").
export async function consume(batch, deliveries) {
  for (const m of batch.messages) {
    const body = m.body;
    const plan = body && typeof body === "object" && Array.isArray(body.plan) ? body.plan : ["ack"];
    const action = batch.queue === DEAD_LETTER_QUEUE ? "ack" : (plan[m.attempts - 1] ?? "ack");
    deliveries.push({
      queue: batch.queue,
      case: body?.case ?? String(body),
      attempts: m.attempts,
      action,
      at: Date.now(),
      id: typeof m.id,
      timestamp: m.timestamp instanceof Date,
      body: describe(body),
      bodyType: body === null ? "null" : typeof body === "object" ? (body.constructor?.name ?? "object") : typeof body,
      methods: [typeof m.ack, typeof m.retry, typeof batch.ackAll, typeof batch.retryAll],
    });
    if (action === "ack") m.ack();
    else if (action === "retry") m.retry();
    else if (action.startsWith("retry:")) m.retry({ delaySeconds: Number(action.slice(6)) });
    else if (action === "throw") throw new Error("the consumer failed");
  }
}

async function queues(b) {
  const out = [];
  const rec = (what, result) => out.push({ what, ...result });
  const send = (body, options) => attempt(async () => typeof (await b.queue.send(body, options))); // (metrics vary)
  const started = Date.now();
  rec("send json", await send({ case: "ack", plan: ["ack"], n: 1 }, { contentType: "json" }));
  rec("send retried", await send({ case: "retried", plan: ["retry", "retry:1", "ack"] }, { contentType: "json" }));
  rec("send dead-lettered", await send({ case: "dead", plan: ["retry", "retry", "retry", "retry"] }, { contentType: "json" }));
  rec("send neither acked nor retried", await send({ case: "none", plan: ["none"] }, { contentType: "json" }));
  rec("send consumer throws", await send({ case: "throws", plan: ["throw", "ack"] }, { contentType: "json" }));
  rec("send text", await send("plain text", { contentType: "text" }));
  rec("send v8 (default)", await send({ case: "v8", when: "x" }));
  rec("send bytes", await send(new Uint8Array([1, 2, 3]), { contentType: "bytes" }));
  rec("send too large", await send({ case: "large", pad: "x".repeat(130_000) }, { contentType: "json" }));
  rec("send delayed", await send({ case: "delayed" }, { contentType: "json", delaySeconds: 1 }));
  rec("send with a bad contentType", await send({ case: "bad" }, { contentType: "yaml" }));
  // 8 messages settle in: ack 1, retried 3, dead 3 + 1 dead-lettered, none 1, throws 2, text 1,
  // v8 1, bytes 1, delayed 1.
  const expected = 15;
  const deadline = Date.now() + 30_000;
  while (b.deliveries.length < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  await new Promise((r) => setTimeout(r, 1500)); // nothing else arrives
  const seen = b.deliveries.map((d) => ({ ...d }));
  const first = (c) => seen.find((d) => d.case === c);
  rec("delivered", { ok: seen.length });
  rec("retry delaySeconds honoured", {
    ok: (() => {
      const r = seen.filter((d) => d.case === "retried");
      return r.length === 3 && r[2].at - r[1].at >= 900;
    })(),
  });
  rec("send delaySeconds honoured", { ok: first("delayed") ? first("delayed").at - started >= 900 : "not delivered" });
  const order = (d) => `${d.case}|${d.queue}|${d.attempts}`;
  for (const d of seen.sort((x, y) => (order(x) < order(y) ? -1 : 1))) {
    delete d.at;
    rec("delivery", { ok: d });
  }
  return out;
}

export const SCENARIOS = { r2Objects, r2Ranges, r2Multipart, r2MultipartErrors, durableObjects, queues };
