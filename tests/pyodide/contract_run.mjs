// Runs the scenarios of contract.mjs against the stand-ins of fakes.mjs ("fake", plain Node)
// or against the real bindings inside a JS Worker in Miniflare ("real", the pinned workerd),
// and prints one line "CONTRACT <json>": { scenario: [observations...] }.
//
//   node tests/pyodide/contract_run.mjs fake|real [scenario ...]
//
// Driven by tests/test_fake_contracts.py, which runs both and compares them.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { DEAD_LETTER_QUEUE, JOBS_QUEUE, MAX_RETRIES, SCENARIOS, consume, objectFetch } from "./contract.mjs";
import { DurableObjectNamespace, FixedLengthStream, QueueBroker, R2Bucket } from "./fakes.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, "..", "..");
const [mode, ...wanted] = process.argv.slice(2);
const names = wanted.length ? wanted : Object.keys(SCENARIOS);

async function runFake() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "mediagate-contract-"));
  const results = {};
  try {
    for (const name of names) {
      const deliveries = [];
      const broker = new QueueBroker({
        [JOBS_QUEUE]: { handler: (batch) => consume(batch, deliveries), maxRetries: MAX_RETRIES, deadLetterQueue: DEAD_LETTER_QUEUE },
        [DEAD_LETTER_QUEUE]: { handler: (batch) => consume(batch, deliveries) },
      });
      const ns = new DurableObjectNamespace((state) => ({
        gateway: { fetch: () => "inner" },
        fetch: (request) => objectFetch(state, request),
        alarm: async () => {},
      }));
      const bindings = {
        bucket: new R2Bucket(path.join(root, name)),
        ns,
        queue: broker.producer(JOBS_QUEUE),
        deliveries,
        FixedLengthStream,
      };
      results[name] = await run(name, bindings);
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
  return results;
}

async function run(name, bindings) {
  try {
    return await SCENARIOS[name](bindings);
  } catch (e) {
    return [{ crashed: String(e?.stack ?? e) }];
  }
}

// The Worker Miniflare runs: the same scenarios with env's bindings.
const WORKER = `
import { DurableObject } from "cloudflare:workers";
import { SCENARIOS, consume, objectFetch } from "./contract.mjs";

const deliveries = [];

export class ContractObject extends DurableObject {
  get gateway() {
    return { fetch: () => "inner" };
  }
  async fetch(request) {
    return await objectFetch(this.ctx, request);
  }
  async alarm() {}
}

export default {
  async fetch(request, env) {
    const name = new URL(request.url).pathname.slice(1);
    deliveries.length = 0;
    const bindings = { bucket: env.BUCKET, ns: env.NS, queue: env.JOBS, deliveries, FixedLengthStream };
    try {
      return Response.json(await SCENARIOS[name](bindings));
    } catch (e) {
      return Response.json([{ crashed: String(e?.stack ?? e) }]);
    }
  },
  async queue(batch) {
    await consume(batch, deliveries);
  },
};
`;

async function runReal() {
  const { Miniflare, convertV4MiniflareOptions } = await import(path.join(REPO, "node_modules/miniflare/dist/src/index.js"));
  const persist = fs.mkdtempSync(path.join(os.tmpdir(), "mediagate-contract-mf-"));
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      modules: [
        { type: "ESModule", path: path.join(HERE, "contract-worker.mjs"), contents: WORKER },
        { type: "ESModule", path: path.join(HERE, "contract.mjs") },
      ],
      modulesRoot: HERE,
      compatibilityDate: "2026-11-01",
      durableObjects: { NS: "ContractObject" },
      r2Buckets: ["BUCKET"],
      queueProducers: { JOBS: { queueName: JOBS_QUEUE } },
      queueConsumers: {
        [JOBS_QUEUE]: { maxBatchSize: 1, maxBatchTimeout: 0.1, maxRetries: MAX_RETRIES, deadLetterQueue: DEAD_LETTER_QUEUE },
        [DEAD_LETTER_QUEUE]: { maxBatchSize: 1, maxBatchTimeout: 0.1 },
      },
      defaultPersistRoot: persist,
    }),
  );
  const results = {};
  try {
    for (const name of names) {
      const r = await mf.dispatchFetch(`http://contract.local/${name}`);
      const body = await r.text();
      try {
        results[name] = JSON.parse(body);
      } catch {
        results[name] = [{ crashed: `HTTP ${r.status}: ${body.slice(0, 2000)}` }];
      }
    }
  } finally {
    await mf.dispose();
    fs.rmSync(persist, { recursive: true, force: true });
  }
  return results;
}

const started = Date.now();
const results = mode === "real" ? await runReal() : mode === "fake" ? await runFake() : null;
if (results === null) {
  console.error("usage: contract_run.mjs fake|real [scenario ...]");
  process.exit(2);
}
console.error(`contract_run ${mode}: ${((Date.now() - started) / 1000).toFixed(1)}s`);
console.log(`CONTRACT ${JSON.stringify(results)}`);
process.exit(0);
