#!/usr/bin/env node
// Terminate an upload with tus-js-client (the real Node client), counting its DELETEs.
//
//   node tests/js/tus_terminate.mjs --endpoint URL --file PATH --token TOKEN --mode completed|unfinished
//        [--chunk-size BYTES]
//
// completed:  upload the whole file, then Upload.terminate(url) (the client's termination API)
// unfinished: upload the first chunk, then upload.abort(true) (stop and terminate)
// Both use retryDelays [1000, 1000, 1000, 1000, 1000], so a refused DELETE (tus-js-client retries
// 409 and 423) would show up as several DELETEs and seconds of delay.
//
// Prints one JSON line: {"url": ..., "deletes": N, "statuses": [..], "ms": T} (exit 0)
// or {"error": "...", "url": ..., "deletes": N, "statuses": [..]} (exit 1).

import { createReadStream, statSync } from 'node:fs'
import { parseArgs } from 'node:util'

import { Upload } from 'tus-js-client'

const args = parseArgs({
  options: {
    endpoint: { type: 'string' },
    file: { type: 'string' },
    token: { type: 'string' },
    mode: { type: 'string' },
    'chunk-size': { type: 'string', default: String(5 * 1024 * 1024) },
  },
  strict: true,
}).values

const deletes = []
let url = null
let started = 0

function done(extra, code) {
  process.stdout.write(JSON.stringify({ url, deletes: deletes.length, statuses: deletes, ...extra }) + '\n')
  process.exit(code)
}

const termination = {
  headers: { Authorization: `Bearer ${args.token}` },
  retryDelays: [1000, 1000, 1000, 1000, 1000],
  onBeforeRequest(req) {
    if (req.getMethod() === 'DELETE') {
      if (!started) started = Date.now()
      deletes.push(null)
    }
  },
  onAfterResponse(req, res) {
    if (req.getMethod() === 'DELETE') deletes[deletes.length - 1] = res.getStatus()
  },
}

function terminated(promise) {
  promise.then(
    () => done({ ms: Date.now() - started }, 0),
    (err) => done({ error: String(err && err.message ? err.message : err) }, 1),
  )
}

const size = statSync(args.file).size
const upload = new Upload(createReadStream(args.file), {
  ...termination,
  endpoint: args.endpoint,
  chunkSize: Number(args['chunk-size']),
  uploadSize: size,
  metadata: { filename: 'terminate-me.bin' },
  storeFingerprintForResuming: false,
  onChunkComplete(_chunk, accepted, total) {
    if (args.mode === 'unfinished' && accepted < total && url == null) {
      url = upload.url
      terminated(upload.abort(true))
    }
  },
  onSuccess() {
    if (args.mode !== 'completed') return
    url = upload.url
    terminated(Upload.terminate(url, termination))
  },
  onError(err) {
    done({ error: `upload failed: ${err && err.message ? err.message : err}` }, 1)
  },
})
upload.start()
