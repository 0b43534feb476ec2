// JS-side stand-ins for the Workers runtime objects the Worker touches, used by run.mjs
// to run worker/src/entry.py on Pyodide in Node. They are JavaScript objects with the
// runtime's class names, method names, argument shapes and failure modes, so the Python
// code reaches them through the real Pyodide FFI exactly as it reaches the real bindings.
// tests/test_fake_contracts.py runs the scenarios of contract.mjs against these and against
// Miniflare's real bindings and requires the same results: change a stand-in only together
// with a scenario that shows the runtime does the same.
//
// R2Bucket          objects on disk in LocalObjectStore's layout (<root>/objects/<key> plus
//                   .<name>.meta), so the real processor reads what the Worker stored;
//                   multipart parts in memory; R2's rules and error texts as Miniflare's R2
//                   has them (stream bodies need a known length; complete's part-size
//                   rules; ranges; unknown, finished and foreign upload ids). Kept although
//                   Miniflare does not enforce them: <= 1,000 keys per delete and list page.
// FixedLengthStream the Workers class: errors unless exactly N bytes pass (workerd's texts);
//                   its readable side has a known length.
// WorkerQueue, QueueBroker, MessageBatch, Message   Queues producer and consumer objects;
//                   the broker redelivers (attempts, delaySeconds) and dead-letters.
// DurableObjectNamespace / Stub / Id / State / Storage   Durable Objects, instances created
//                   from a Python class through a factory; the stub answers every property
//                   name it does not have as an RPC property, as workerd's does.
// Container         ctx.container (workerd's Container API): start() runs the real processor
//                   (python -m processor.service) as a child process with the env it is
//                   given; getTcpPort(8080).fetch reaches it.
import { spawn } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";

export const KNOWN_LENGTH = Symbol.for("mediagate.knownLength");
const MIB = 1024 * 1024;

export class R2Error extends Error {
  constructor(message, code) {
    super(`${message} (${code})`);
    this.name = "Error";
  }
}

// -- FixedLengthStream ---------------------------------------------------------------------

// As in workerd (checked by tests/pyodide/contract.mjs): writing more than the declared
// length rejects that write and errors the readable side with the same TypeError; closing
// after fewer bytes resolves for the writer but errors the readable side (the consumer,
// e.g. R2's put or uploadPart, rejects).
export class FixedLengthStream {
  constructor(expectedLength) {
    const expected = Number(expectedLength);
    let seen = 0;
    let readableSide;
    const inner = new TransformStream({
      start(controller) {
        readableSide = controller;
      },
    });
    const innerWriter = inner.writable.getWriter();
    this.readable = inner.readable;
    this.readable[KNOWN_LENGTH] = expected;
    this.writable = new WritableStream({
      async write(chunk) {
        if (!(chunk instanceof ArrayBuffer || ArrayBuffer.isView(chunk))) {
          const err = new TypeError("This TransformStream is being used as a byte stream, but received a non-bytes chunk");
          readableSide.error(err);
          throw err;
        }
        const bytes = chunk instanceof ArrayBuffer ? new Uint8Array(chunk) : new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        seen += bytes.byteLength;
        if (seen > expected) {
          const err = new TypeError("Attempt to write too many bytes through a FixedLengthStream.");
          readableSide.error(err);
          throw err;
        }
        await innerWriter.write(bytes.slice());
      },
      async close() {
        if (seen !== expected) {
          readableSide.error(new TypeError("FixedLengthStream did not see all expected bytes before close()."));
          return;
        }
        await innerWriter.close();
      },
      async abort(reason) {
        await innerWriter.abort(reason);
      },
    });
  }
}

async function readAll(stream) {
  const reader = stream.getReader();
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

async function bodyBytes(value, what) {
  if (value === null || value === undefined) return new Uint8Array(0);
  if (typeof value === "string") return new TextEncoder().encode(value);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength).slice();
  if (value instanceof ReadableStream) {
    const known = value[KNOWN_LENGTH];
    if (known === undefined) {
      throw new TypeError("Provided readable stream must have a known length (request/response body or readable half of FixedLengthStream)");
    }
    const data = await readAll(value);
    if (data.byteLength !== known) throw new TypeError(`${what}: stream delivered ${data.byteLength} of ${known} bytes`);
    return data;
  }
  throw new TypeError(`${what}: unsupported body type ${value?.constructor?.name}`);
}

// -- R2 ------------------------------------------------------------------------------------

class R2Object {
  constructor(key, size, etag, contentType) {
    this.key = key;
    this.size = size;
    this.etag = etag;
    this.httpEtag = `"${etag}"`;
    this.version = randomUUID().replaceAll("-", "");
    this.uploaded = new Date();
    this.httpMetadata = contentType ? { contentType } : {};
    this.customMetadata = {};
    this.storageClass = ""; // what Miniflare's R2 reports ("Standard" on R2 itself)
  }
}

class R2ObjectBody extends R2Object {
  constructor(obj, data) {
    super(obj.key, obj.size, obj.etag, obj.httpMetadata.contentType);
    this.body = new ReadableStream({
      start(controller) {
        for (let i = 0; i < data.byteLength; i += 256 * 1024) controller.enqueue(data.slice(i, i + 256 * 1024));
        controller.close();
      },
    });
    this.bodyUsed = false;
  }
}

// Multipart semantics and error texts as Miniflare's R2 has them (tests/pyodide/contract.mjs):
// complete checks the listed parts in the order given (no ordering rule; a part listed twice
// is an internal error; parts may be left out; an empty list makes an empty object); every
// listed part but the last must be >= 5 MiB (10011), of one size, and the last no larger
// (10048). A completed or aborted upload answers 10024 to uploadPart/complete and aborts
// silently; an id never issued for that key answers 10024 to uploadPart and an internal
// error (10001) to complete and abort.
const NO_SUCH_UPLOAD = ["The specified multipart upload does not exist.", 10024];
const INTERNAL = ["We encountered an internal error. Please try again.", 10001];

export class R2MultipartUpload {
  constructor(bucket, key, uploadId) {
    this.bucket = bucket;
    this.key = key;
    this.uploadId = uploadId;
  }

  // The open upload's state, or the error `op` answers for this id.
  _state(op, unknown) {
    const state = this.bucket.uploads.get(this.uploadId);
    if (state && state.key === this.key) return state;
    const finished = this.bucket.finishedUploads.get(this.uploadId) === this.key;
    const [message, code] = finished ? NO_SUCH_UPLOAD : unknown;
    throw new R2Error(`${op}: ${message}`, code);
  }

  async uploadPart(partNumber, value) {
    if (!(Number.isInteger(partNumber) && partNumber >= 1 && partNumber <= 10000)) {
      throw new TypeError(`Part number must be between 1 and 10000 (inclusive). Actual value was: ${partNumber}`);
    }
    const state = this._state("uploadPart", NO_SUCH_UPLOAD);
    const data = await bodyBytes(value, "uploadPart");
    this._state("uploadPart", NO_SUCH_UPLOAD);
    const etag = createHash("md5").update(data).digest("hex");
    state.parts.set(partNumber, { data, etag });
    this.bucket.partSizes.push(data.byteLength);
    this.bucket.partBodyKinds.push(value instanceof ReadableStream ? "stream" : "bytes");
    return { partNumber, etag };
  }

  async complete(uploadedParts) {
    const op = "completeMultipartUpload";
    const state = this._state(op, INTERNAL);
    const list = Array.from(uploadedParts, (p) => ({ partNumber: p.partNumber, etag: p.etag }));
    for (const p of list) {
      const part = state.parts.get(p.partNumber);
      if (!part || part.etag !== p.etag) throw new R2Error(`${op}: One or more of the specified parts could not be found.`, 10025);
    }
    if (new Set(list.map((p) => p.partNumber)).size !== list.length) throw new R2Error(`${op}: ${INTERNAL[0]}`, INTERNAL[1]);
    const sizes = list.map((p) => state.parts.get(p.partNumber).data.byteLength);
    for (let i = 0; i < sizes.length - 1; i++) {
      if (sizes[i] < 5 * MIB) throw new R2Error(`${op}: Your proposed upload is smaller than the minimum allowed object size.`, 10011);
    }
    const problem = `${op}: There was a problem with the multipart upload.`;
    for (let i = 1; i < sizes.length - 1; i++) if (sizes[i] !== sizes[0]) throw new R2Error(problem, 10048);
    if (sizes.length > 1 && sizes[sizes.length - 1] > sizes[0]) throw new R2Error(problem, 10048);
    const total = sizes.reduce((a, b) => a + b, 0);
    const out = new Uint8Array(total);
    let at = 0;
    for (const p of list) {
      const d = state.parts.get(p.partNumber).data;
      out.set(d, at);
      at += d.byteLength;
    }
    this.bucket.uploads.delete(this.uploadId);
    this.bucket.finishedUploads.set(this.uploadId, this.key);
    this.bucket.completed.push({ key: this.key, parts: sizes });
    return this.bucket._store(this.key, out, state.contentType, `${randomUUID().replaceAll("-", "")}-${list.length}`);
  }

  async abort() {
    if (this.bucket.finishedUploads.get(this.uploadId) === this.key) return;
    this._state("abortMultipartUpload", INTERNAL);
    this.bucket.uploads.delete(this.uploadId);
    this.bucket.finishedUploads.set(this.uploadId, this.key);
  }
}

export class R2Bucket {
  constructor(root) {
    this.root = root;
    this.objects = path.join(root, "objects");
    fs.mkdirSync(this.objects, { recursive: true });
    this.uploads = new Map();
    this.finishedUploads = new Map(); // uploadId -> key, once completed or aborted
    this.etags = new Map();
    this.partSizes = [];
    this.partBodyKinds = [];
    this.completed = [];
  }

  _path(key) {
    if (!key || key.startsWith("/") || key.split("/").some((s) => s === ".." || s === "." || s === "")) {
      throw new R2Error(`invalid object key ${JSON.stringify(key)}`, 10020);
    }
    return path.join(this.objects, ...key.split("/"));
  }

  _meta(p) {
    return path.join(path.dirname(p), `.${path.basename(p)}.meta`);
  }

  _store(key, data, contentType, etag) {
    const p = this._path(key);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p + ".tmp", data);
    fs.renameSync(p + ".tmp", p);
    if (contentType) fs.writeFileSync(this._meta(p), JSON.stringify({ content_type: contentType }));
    else fs.rmSync(this._meta(p), { force: true });
    const tag = etag ?? createHash("md5").update(data).digest("hex");
    this.etags.set(key, tag);
    return new R2Object(key, data.byteLength, tag, contentType);
  }

  _head(key) {
    const p = this._path(key);
    let st;
    try {
      st = fs.statSync(p);
    } catch {
      return null;
    }
    if (!st.isFile()) return null;
    let contentType;
    try {
      contentType = JSON.parse(fs.readFileSync(this._meta(p), "utf8")).content_type;
    } catch {
      contentType = undefined;
    }
    return new R2Object(key, st.size, this.etags.get(key) ?? "0".repeat(32), contentType);
  }

  async put(key, value, options) {
    const data = await bodyBytes(value, "put");
    return this._store(key, data, options?.httpMetadata?.contentType);
  }

  async head(key) {
    return this._head(key);
  }

  async get(key, options) {
    const obj = this._head(key);
    if (!obj) return null;
    let start = 0;
    let end = obj.size;
    if (options?.range) {
      // Miniflare's rules (contract.mjs): a suffix or length of 0, a suffix of an empty
      // object and an offset past the end are 10039; an offset exactly at the end is 10039
      // without a length and "Unspecified error (0)" with one; anything else is clamped.
      const { offset = 0, length, suffix } = options.range;
      const unsatisfiable = () => new R2Error("get: The requested range is not satisfiable", 10039);
      if (suffix !== undefined) {
        if (suffix <= 0 || obj.size === 0) throw unsatisfiable();
        start = Math.max(0, obj.size - suffix);
      } else {
        if (length === 0 || offset > obj.size) throw unsatisfiable();
        if (offset === obj.size) throw length === undefined ? unsatisfiable() : new R2Error("get: Unspecified error", 0);
        start = offset;
        end = length === undefined ? obj.size : Math.min(obj.size, offset + length);
      }
    }
    const fd = fs.openSync(this._path(key), "r");
    try {
      const data = Buffer.alloc(end - start);
      fs.readSync(fd, data, 0, end - start, start);
      return new R2ObjectBody(obj, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    } finally {
      fs.closeSync(fd);
    }
  }

  async delete(keys) {
    const list = typeof keys === "string" ? [keys] : Array.from(keys);
    if (list.length > 1000) throw new R2Error("delete: You can only delete up to 1000 keys at once", 10013);
    for (const key of list) {
      const p = this._path(key);
      fs.rmSync(p, { force: true });
      fs.rmSync(this._meta(p), { force: true });
      this.etags.delete(key);
    }
  }

  _keys(prefix) {
    const out = [];
    const walk = (dir, rel) => {
      let entries;
      try {
        entries = fs.readdirSync(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        const r = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) walk(path.join(dir, e.name), r);
        else if (!e.name.startsWith(".") && !e.name.endsWith(".tmp") && r.startsWith(prefix)) out.push(r);
      }
    };
    walk(this.objects, "");
    return out.sort();
  }

  async list(options = {}) {
    const prefix = options.prefix ?? "";
    const limit = options.limit ?? 1000;
    if (!(limit >= 1 && limit <= 1000)) throw new R2Error("list: limit must be within 1..1000", 10022);
    const start = options.cursor ? Number(options.cursor.split(":")[1]) : 0;
    const keys = this._keys(prefix);
    const page = keys.slice(start, start + limit);
    const truncated = start + limit < keys.length;
    const result = { objects: page.map((k) => this._head(k)), truncated, delimitedPrefixes: [] };
    if (truncated) result.cursor = `c:${start + limit}`;
    return result;
  }

  async createMultipartUpload(key, options) {
    this._path(key);
    const uploadId = randomUUID().replaceAll("-", "");
    this.uploads.set(uploadId, { key, parts: new Map(), contentType: options?.httpMetadata?.contentType });
    return new R2MultipartUpload(this, key, uploadId);
  }

  resumeMultipartUpload(key, uploadId) {
    return new R2MultipartUpload(this, key, uploadId); // synchronous, as on R2
  }
}

// -- Queues -------------------------------------------------------------------------------

// A producer binding: records what was sent and, given a QueueBroker, has it delivered.
export class WorkerQueue {
  constructor(broker = null, queueName = null) {
    this.sent = [];
    this.broker = broker;
    this.queueName = queueName;
  }

  // The body as the consumer receives it for each contentType (json: parsed JSON, text: a
  // string, bytes: an ArrayBuffer, v8 (the default): a structured clone). Errors as
  // Miniflare's (contract.mjs): an unknown contentType is a TypeError, a message over
  // 128 KB "Unknown Internal Error (15000)".
  async send(body, options) {
    const contentType = options?.contentType ?? "v8";
    let delivered;
    let size;
    if (contentType === "json") {
      const text = JSON.stringify(body);
      size = new TextEncoder().encode(text).byteLength;
      delivered = JSON.parse(text);
    } else if (contentType === "text") {
      delivered = String(body);
      size = new TextEncoder().encode(delivered).byteLength;
    } else if (contentType === "bytes") {
      const view = body instanceof ArrayBuffer ? new Uint8Array(body) : new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
      delivered = view.slice().buffer;
      size = view.byteLength;
    } else if (contentType === "v8") {
      delivered = structuredClone(body);
      size = new TextEncoder().encode(JSON.stringify(body) ?? "").byteLength;
    } else {
      throw new TypeError(`Unsupported queue message content type: ${contentType}`);
    }
    if (size > 128000) throw new Error("Unknown Internal Error (15000)");
    this.sent.push({ body: structuredClone(body), options: options ? { ...options } : undefined });
    this.broker?._enqueue(this.queueName, delivered, options?.delaySeconds ?? 0);
    return { metadata: { metrics: { backlogCount: this.sent.length, backlogBytes: size } } };
  }

  async sendBatch(messages) {
    for (const m of messages) await this.send(m.body, m);
  }
}

export class Message {
  constructor(body, attempts = 1) {
    this.id = randomUUID();
    this.timestamp = new Date();
    this.body = structuredClone(body);
    this.attempts = attempts;
    this.settled = null;
  }

  ack() {
    this.settled = { action: "ack" };
  }

  retry(options) {
    this.settled = { action: "retry", delaySeconds: options?.delaySeconds ?? null };
  }
}

// Delivers what producers send to consumer handlers the way Queues does: batches of one,
// `attempts` counting deliveries from 1, `retry({delaySeconds})` redelivering after the
// delay, a message neither acked nor retried counting as acked, a handler that throws
// retrying every message it did not ack, and after `maxRetries` retries the message going
// to `deadLetterQueue` (attempts starting again at 1) or being dropped.
export class QueueBroker {
  // consumers: { queueName: { handler(batch), maxRetries = 3, deadLetterQueue, retryDelay = 0 } }
  constructor(consumers) {
    this.consumers = consumers;
    this.pending = new Set();
  }

  producer(queueName) {
    return new WorkerQueue(this, queueName);
  }

  _enqueue(queueName, body, delaySeconds = 0, attempts = 1) {
    const consumer = this.consumers[queueName];
    if (!consumer) return;
    const timer = setTimeout(() => {
      this.pending.delete(timer);
      this._deliver(queueName, consumer, body, attempts);
    }, delaySeconds * 1000);
    this.pending.add(timer);
  }

  async _deliver(queueName, consumer, body, attempts) {
    const message = new Message(body, attempts);
    try {
      await consumer.handler(new MessageBatch(queueName, [message]));
    } catch {
      if (message.settled?.action !== "ack") message.settled = { action: "retry", delaySeconds: null };
    }
    if (message.settled?.action !== "retry") return;
    if (attempts > (consumer.maxRetries ?? 3)) {
      if (consumer.deadLetterQueue) this._enqueue(consumer.deadLetterQueue, body);
      return;
    }
    this._enqueue(queueName, body, message.settled.delaySeconds ?? consumer.retryDelay ?? 0, attempts + 1);
  }

  close() {
    for (const timer of this.pending) clearTimeout(timer);
    this.pending.clear();
  }
}

export class MessageBatch {
  constructor(queue, messages) {
    this.queue = queue;
    this.messages = messages;
  }

  ackAll() {
    for (const m of this.messages) m.ack();
  }

  retryAll(options) {
    for (const m of this.messages) m.retry(options);
  }
}

// -- Durable Objects and containers ------------------------------------------------------------

export class DurableObjectStorage {
  constructor() {
    this.data = new Map();
    this.alarm = null;
  }

  async get(key) {
    return this.data.get(key);
  }

  async put(key, value) {
    this.data.set(key, structuredClone(value));
  }

  async delete(key) {
    return this.data.delete(key);
  }

  async getAlarm() {
    return this.alarm;
  }

  async setAlarm(when) {
    if (this.owner && typeof this.owner.alarm !== "function") {
      throw new TypeError("Your Durable Object class must have an alarm() handler in order to call setAlarm()");
    }
    this.alarm = Number(when instanceof Date ? when.getTime() : when);
  }

  async deleteAlarm() {
    this.alarm = null;
  }
}

export class DurableObjectId {
  constructor(name, hex) {
    this.name = name;
    this.hex = hex ?? createHash("sha256").update(name).digest("hex");
  }

  toString() {
    return this.hex;
  }

  equals(other) {
    return String(other) === this.hex;
  }
}

export class DurableObjectState {
  constructor(id, container) {
    this.id = id;
    this.storage = new DurableObjectStorage();
    this.container = container;
    this.pending = [];
  }

  waitUntil(promise) {
    this.pending.push(promise);
  }

  async blockConcurrencyWhile(fn) {
    return await fn();
  }
}

// A Durable Object stub as workerd makes it (Fetcher::getRpcMethod; tests/pyodide/contract.mjs):
// own properties `id` and `name`, `fetch` an HTTP request to the object's fetch handler, and
// EVERY other property name an RPC property: a function, truthy, with RPC properties of its
// own. Calling one (or awaiting it) is an RPC call into the object: a name the object lacks
// is "not implemented", and `fetch` reached through RPC is reserved. So probing a stub with
// getattr(stub, "_binding", None) gets a callable, never None (the bug of issue #9).
function rpcProperty(stub, path) {
  const call = async (args) => {
    const object = stub.namespace._instance(stub.id);
    let target = object;
    for (let i = 0; i < path.length; i++) {
      const name = path[i];
      if (i === path.length - 1 && name === "fetch" && path.length > 1) {
        throw new TypeError("'fetch' is a reserved method and cannot be called over RPC.");
      }
      if (target === null || target === undefined || !(name in Object(target))) {
        throw new TypeError(`The RPC receiver does not implement the method "${path[0]}".`);
      }
      target = i === path.length - 1 && args !== null ? target[name](...args) : target[name];
    }
    return await target;
  };
  return new Proxy(function rpc() {}, {
    get(_target, prop) {
      if (typeof prop === "symbol") return undefined;
      if (prop === "then" && path.length > 0) {
        return (resolve, reject) => call(null).then(resolve, reject);
      }
      return rpcProperty(stub, [...path, prop]);
    },
    apply(_target, _this, args) {
      return call(args);
    },
  });
}

export class DurableObjectStub {
  constructor(namespace, id) {
    Object.defineProperty(this, "namespace", { value: namespace, enumerable: false });
    this.id = id;
    this.name = id.name;
    return new Proxy(this, {
      get(target, prop, receiver) {
        if (typeof prop === "symbol" || prop in target) return Reflect.get(target, prop, receiver);
        if (prop === "then") return undefined; // a stub is not a thenable
        return rpcProperty(target, [prop]);
      },
    });
  }

  // The request reaches the object as workerd delivers it: a body of known length (a string
  // or bytes, not a caller's ReadableStream) arrives with its Content-Length.
  async fetch(input, init) {
    const streamed = init?.body instanceof ReadableStream;
    let request = new Request(input, init);
    if (request.body !== null && !streamed && !request.headers.has("content-length")) {
      const body = new Uint8Array(await request.arrayBuffer());
      const headers = new Headers(request.headers);
      headers.set("content-length", String(body.byteLength));
      request = new Request(request.url, { method: request.method, headers, body });
    }
    const instance = this.namespace._instance(this.id);
    return await instance.fetch(request);
  }
}

export class DurableObjectNamespace {
  // factory(state) -> the Durable Object instance (a Python ProcessorContainer).
  constructor(factory, makeContainer = () => undefined) {
    this.factory = factory;
    this.makeContainer = makeContainer;
    this.instances = new Map();
  }

  idFromName(name) {
    return new DurableObjectId(name);
  }

  idFromString(hex) {
    for (const { state } of this.instances.values()) if (state.id.toString() === hex) return state.id;
    return new DurableObjectId(undefined, hex);
  }

  newUniqueId() {
    return new DurableObjectId(undefined, createHash("sha256").update(randomUUID()).digest("hex"));
  }

  get(id) {
    return new DurableObjectStub(this, id);
  }

  getByName(name) {
    return this.get(this.idFromName(name));
  }

  _instance(id) {
    const key = id.name ?? id.toString();
    let entry = this.instances.get(key);
    if (!entry) {
      const state = new DurableObjectState(id, this.makeContainer(id.name));
      entry = { state, object: this.factory(state) };
      state.storage.owner = entry.object;
      this.instances.set(key, entry);
    }
    return entry.object;
  }
}

export async function freePort() {
  return await new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// ctx.container, shaped like workerd's Container (src/workerd/api/container.{h,c++}; not
// checkable against Miniflare, which runs containers only with Docker): `running` is true
// from start() until the process has exited; start(options) is synchronous, refuses a
// running container and '=' in env names; monitor() resolves on exit 0 and rejects with
// "Container exited with unexpected exit code: N" (or the reason given to destroy());
// destroy() of a stopped container resolves; signal(signo) takes a number; getTcpPort(port)
// returns a Fetcher (fetch, connect, and like every workerd Fetcher an RPC property for any
// other name, which fails: a container port serves no RPC).
//
// `command` is the image's CMD as run on this machine; `overrides` are the only env values
// changed from what start() was given: the host port, and the local object store standing
// in for R2's S3 API (LocalObjectStore reads what R2Bucket wrote).
export class Container {
  constructor({ command, cwd, baseEnv, overrides, logPath, exposedPort = 8080 }) {
    this.command = command;
    this.cwd = cwd;
    this.baseEnv = baseEnv;
    this.overrides = overrides;
    this.logPath = logPath;
    this.exposedPort = exposedPort;
    this.proc = null;
    this.exited = null;
    this.startCalls = [];
    this.hostPort = null;
    this.destroyReason = undefined;
    this.inactivityTimeoutMs = null;
  }

  get running() {
    return this.proc !== null && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  start(options) {
    if (this.running) throw new Error("start() cannot be called on a container that is already running.");
    const env = { ...(options?.env ?? {}) };
    for (const [name, value] of Object.entries(env)) {
      if (name.includes("=")) throw new Error(`Environment variable names cannot contain '=': ${name}`);
      env[name] = String(value);
    }
    this.startCalls.push({ env: { ...env }, enableInternet: options?.enableInternet ?? false, entrypoint: options?.entrypoint });
    this.hostPort = this.overrides.PROCESSOR_PORT;
    this.destroyReason = undefined;
    const log = fs.openSync(this.logPath, "a");
    const argv = options?.entrypoint ?? this.command;
    this.proc = spawn(argv[0], argv.slice(1), {
      cwd: this.cwd,
      env: { ...this.baseEnv, ...env, ...this.overrides },
      stdio: ["ignore", log, log],
    });
    this.exited = new Promise((resolve) => this.proc.once("exit", (code, signal) => resolve({ code, signal })));
  }

  getTcpPort(port) {
    if (!(Number.isInteger(port) && port > 0 && port < 65536)) throw new TypeError(`Invalid port number: ${port}`);
    const fetcher = {
      fetch: async (input, init) => {
        const u = new URL(input instanceof Request ? input.url : input);
        if (u.protocol === "https:") {
          throw new Error(
            "Connecting to a container using HTTPS is not currently supported; use HTTP instead. TLS is unnecessary anyway, as the connection is already secure by default.",
          );
        }
        if (!this.running) throw new Error("the container is not running, consider calling start()");
        if (port !== this.exposedPort) throw new Error("the container is not listening");
        const target = `http://127.0.0.1:${this.hostPort}${u.pathname}${u.search}`;
        let options = init;
        if (init instanceof Request) {
          // workerd accepts a Request as init (the Container class forwards requests this
          // way); undici needs its body buffered or duplex: "half".
          options = { method: init.method, headers: init.headers };
          if (init.body) options.body = new Uint8Array(await init.arrayBuffer());
        }
        try {
          return await fetch(target, options);
        } catch (e) {
          throw new Error(`the container is not listening (${e.cause?.code ?? e.message})`);
        }
      },
      connect: () => {
        throw new Error("connect() is not provided by this stand-in");
      },
    };
    return new Proxy(fetcher, {
      get(target, prop) {
        if (typeof prop === "symbol" || prop in target) return target[prop];
        if (prop === "then") return undefined;
        const rpc = async () => {
          throw new TypeError(`The RPC receiver does not implement the method "${prop}".`);
        };
        return rpc;
      },
    });
  }

  async monitor() {
    if (!this.running) throw new Error("monitor() cannot be called on a container that is not running.");
    const { code } = await this.exited;
    if (this.destroyReason !== undefined) {
      const reason = this.destroyReason;
      this.destroyReason = undefined;
      throw reason;
    }
    if (code) throw Object.assign(new Error(`Container exited with unexpected exit code: ${code}`), { exitCode: code });
  }

  async destroy(reason) {
    if (!this.running) return;
    if (this.destroyReason === undefined) this.destroyReason = reason;
    this.proc.kill("SIGTERM");
    const timer = setTimeout(() => this.running && this.proc.kill("SIGKILL"), 10000);
    await this.exited;
    clearTimeout(timer);
  }

  signal(signo) {
    if (!(Number.isInteger(signo) && signo > 0 && signo <= 64)) throw new RangeError("Invalid signal number.");
    if (!this.running) throw new Error("signal() cannot be called on a container that is not running.");
    this.proc.kill(signo);
  }

  async setInactivityTimeout(durationMs) {
    this.inactivityTimeoutMs = Number(durationMs);
  }
}
