// JS-side stand-ins for the Workers runtime objects the Worker touches, used by run.mjs
// to run worker/src/entry.py on Pyodide in Node. They are JavaScript objects with the
// runtime's class names, method names, argument shapes and failure modes, so the Python
// code reaches them through the real Pyodide FFI exactly as it reaches the real bindings.
//
// R2Bucket          objects on disk in LocalObjectStore's layout (<root>/objects/<key> plus
//                   .<name>.meta), so the real processor reads what the Worker stored;
//                   multipart parts in memory; R2's rules (stream bodies need a known
//                   length; all parts but the last equal, >= 5 MiB, last no larger,
//                   ETags must match; <= 10,000 parts; 1,000 keys per delete/list page).
// FixedLengthStream the Workers class: a TransformStream that errors unless exactly N bytes
//                   pass, and whose readable side has a known length.
// WorkerQueue, MessageBatch, Message   Queues producer and consumer objects.
// DurableObjectNamespace / State / Storage   Durable Objects, instances created from a
//                   Python class through a factory.
// Container         ctx.container: start() runs the real processor (python -m
//                   processor.service) as a child process with the env it is given;
//                   getTcpPort(8080).fetch reaches it.
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

export class FixedLengthStream extends TransformStream {
  constructor(expectedLength) {
    const expected = Number(expectedLength);
    let seen = 0;
    super({
      transform(chunk, controller) {
        if (!(chunk instanceof Uint8Array || ArrayBuffer.isView(chunk) || chunk instanceof ArrayBuffer)) {
          controller.error(new TypeError("This TransformStream is being used as a byte stream, but received a non-bytes chunk"));
          return;
        }
        const bytes = chunk instanceof ArrayBuffer ? new Uint8Array(chunk) : new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        seen += bytes.byteLength;
        if (seen > expected) {
          controller.error(new TypeError(`FixedLengthStream: more than the expected ${expected} bytes were written`));
          return;
        }
        controller.enqueue(bytes.slice());
      },
      flush(controller) {
        if (seen !== expected) controller.error(new TypeError(`FixedLengthStream: ${seen} of the expected ${expected} bytes were written`));
      },
    });
    this.readable[KNOWN_LENGTH] = expected;
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
      throw new TypeError(
        `${what}: Provided readable stream must have a known length (request/response body or readable half of FixedLengthStream)`,
      );
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
    this.storageClass = "Standard";
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

export class R2MultipartUpload {
  constructor(bucket, key, uploadId) {
    this.bucket = bucket;
    this.key = key;
    this.uploadId = uploadId;
  }

  _state() {
    const state = this.bucket.uploads.get(this.uploadId);
    if (!state || state.key !== this.key) throw new R2Error("The specified multipart upload does not exist.", 10024);
    return state;
  }

  async uploadPart(partNumber, value) {
    const state = this._state();
    if (!(partNumber >= 1 && partNumber <= 10000)) throw new R2Error("Part number must be between 1 and 10000", 10022);
    const data = await bodyBytes(value, "uploadPart");
    this._state();
    const etag = createHash("md5").update(data).digest("hex");
    state.parts.set(partNumber, { data, etag });
    this.bucket.partSizes.push(data.byteLength);
    this.bucket.partBodyKinds.push(value instanceof ReadableStream ? "stream" : "bytes");
    return { partNumber, etag };
  }

  async complete(uploadedParts) {
    const state = this._state();
    const list = Array.from(uploadedParts, (p) => ({ partNumber: p.partNumber, etag: p.etag }));
    if (list.length === 0 || list.length > 10000) throw new R2Error("complete: invalid number of parts", 10025);
    const sizes = [];
    for (let i = 0; i < list.length; i++) {
      const part = state.parts.get(list[i].partNumber);
      if (!part || part.etag !== list[i].etag) throw new R2Error(`complete: part ${list[i].partNumber} is missing or its ETag differs (InvalidPart)`, 10025);
      if (i > 0 && list[i].partNumber <= list[i - 1].partNumber) throw new R2Error("complete: parts must be in ascending order", 10025);
      sizes.push(part.data.byteLength);
    }
    for (let i = 0; i < sizes.length - 1; i++) {
      if (sizes[i] < 5 * MIB) throw new R2Error(`complete: part ${list[i].partNumber} is smaller than 5 MiB (EntityTooSmall)`, 10011);
      if (sizes[i] !== sizes[0]) throw new R2Error(`complete: all non-trailing parts must have the same length (InvalidPart)`, 10048);
    }
    if (sizes.length > 1 && sizes[sizes.length - 1] > sizes[0]) {
      throw new R2Error("complete: the last part is larger than the others (InvalidPart)", 10048);
    }
    const total = sizes.reduce((a, b) => a + b, 0);
    const out = new Uint8Array(total);
    let at = 0;
    for (const p of list) {
      const d = state.parts.get(p.partNumber).data;
      out.set(d, at);
      at += d.byteLength;
    }
    this.bucket.uploads.delete(this.uploadId);
    this.bucket.completed.push({ key: this.key, parts: sizes });
    return this.bucket._store(this.key, out, state.contentType, `${randomUUID().replaceAll("-", "")}-${list.length}`);
  }

  async abort() {
    this._state();
    this.bucket.uploads.delete(this.uploadId);
  }
}

export class R2Bucket {
  constructor(root) {
    this.root = root;
    this.objects = path.join(root, "objects");
    fs.mkdirSync(this.objects, { recursive: true });
    this.uploads = new Map();
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
      const { offset = 0, length } = options.range;
      if (offset >= obj.size) throw new R2Error("get: The requested range is not satisfiable", 10039);
      start = offset;
      end = length === undefined ? obj.size : Math.min(obj.size, offset + length);
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

export class WorkerQueue {
  constructor() {
    this.sent = [];
  }

  async send(body, options) {
    const size = new TextEncoder().encode(JSON.stringify(body)).byteLength;
    if (size > 128000) throw new Error(`Queue send failed: message too large (${size} bytes)`);
    this.sent.push({ body: structuredClone(body), options: options ? { ...options } : undefined });
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
    this.alarm = Number(when instanceof Date ? when.getTime() : when);
  }

  async deleteAlarm() {
    this.alarm = null;
  }
}

export class DurableObjectId {
  constructor(name) {
    this.name = name;
  }

  toString() {
    return createHash("sha256").update(this.name).digest("hex");
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

export class DurableObjectStub {
  constructor(namespace, id) {
    this.namespace = namespace;
    this.id = id;
    this.name = id.name;
  }

  async fetch(input, init) {
    const request = input instanceof Request ? input : new Request(input, init);
    const instance = this.namespace._instance(this.id);
    return await instance.fetch(request);
  }
}

export class DurableObjectNamespace {
  // factory(state) -> the Durable Object instance (a Python ProcessorContainer).
  constructor(factory, makeContainer) {
    this.factory = factory;
    this.makeContainer = makeContainer;
    this.instances = new Map();
  }

  idFromName(name) {
    return new DurableObjectId(name);
  }

  get(id) {
    return new DurableObjectStub(this, id);
  }

  getByName(name) {
    return this.get(this.idFromName(name));
  }

  _instance(id) {
    let entry = this.instances.get(id.name);
    if (!entry) {
      const state = new DurableObjectState(id, this.makeContainer(id.name));
      entry = { state, object: this.factory(state) };
      this.instances.set(id.name, entry);
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

// ctx.container. `command` is the image's CMD as run on this machine; `overrides` are the
// only env values changed from what start() was given: the host port, and the local
// object store standing in for R2's S3 API (LocalObjectStore reads what R2Bucket wrote).
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
  }

  get running() {
    return this.proc !== null && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  start(options) {
    if (this.running) throw new Error("start() cannot be called on a container that is already running");
    const env = { ...(options?.env ?? {}) };
    this.startCalls.push({ env: { ...env }, enableInternet: options?.enableInternet, entrypoint: options?.entrypoint });
    this.hostPort = this.overrides.PROCESSOR_PORT;
    const log = fs.openSync(this.logPath, "a");
    this.proc = spawn(this.command[0], this.command.slice(1), {
      cwd: this.cwd,
      env: { ...this.baseEnv, ...env, ...this.overrides },
      stdio: ["ignore", log, log],
    });
    this.exited = new Promise((resolve) => this.proc.once("exit", (code, signal) => resolve({ code, signal })));
  }

  getTcpPort(port) {
    return {
      fetch: async (input, init) => {
        if (!this.running) throw new Error("the container is not running, consider calling start()");
        if (port !== this.exposedPort) throw new Error("the container is not listening");
        const u = new URL(input instanceof Request ? input.url : input);
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
    };
  }

  async monitor() {
    if (!this.exited) throw new Error("the container is not running");
    const { code } = await this.exited;
    if (code) throw new Error(`container exited with unexpected exit code: ${code}`);
  }

  async destroy(reason) {
    if (!this.running) return;
    this.proc.kill("SIGTERM");
    const timer = setTimeout(() => this.running && this.proc.kill("SIGKILL"), 10000);
    await this.exited;
    clearTimeout(timer);
  }

  signal(signo) {
    if (this.running) this.proc.kill(signo);
  }
}
