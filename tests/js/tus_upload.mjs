#!/usr/bin/env node
// Upload one file with tus-js-client (the real Node client), streaming from disk.
//
//   node tests/js/tus_upload.mjs --endpoint URL --file PATH [--chunk-size BYTES]
//        [--token TOKEN] [--metadata filename=a.mp4,filetype=video/mp4]
//        [--stop-after BYTES] [--resume-url URL]
//
// Prints one JSON line on stdout:
//   success:                       {"url": ..., "bytes": N}                        exit 0
//   stopped (--stop-after reached): {"url": ..., "bytes": N, "stopped": true}      exit 3
//   error:                         {"error": "...", "url": ...}                    exit 1
// --stop-after aborts the client without terminating the upload (no DELETE), so a fresh
// process can resume it with --resume-url (tus-js-client's `uploadUrl` option: HEAD, then
// PATCH from the server's offset).

import { createReadStream, statSync } from 'node:fs'
import { parseArgs } from 'node:util'

import { Upload } from 'tus-js-client'

const USAGE =
  'usage: tus_upload.mjs --endpoint URL --file PATH [--chunk-size BYTES] [--token TOKEN] ' +
  '[--metadata k=v,k=v] [--stop-after BYTES] [--resume-url URL]'

function fail(message, url = null) {
  process.stdout.write(JSON.stringify({ error: String(message), url }) + '\n')
  process.exit(1)
}

function parseBytes(name, raw) {
  if (raw == null) return null
  const n = Number(raw)
  if (!Number.isSafeInteger(n) || n <= 0) fail(`--${name} must be a positive integer, got ${raw}`)
  return n
}

function parseMetadata(raw) {
  const metadata = {}
  if (!raw) return metadata
  for (const pair of raw.split(',')) {
    if (!pair) continue
    const eq = pair.indexOf('=')
    if (eq <= 0) fail(`bad --metadata entry ${JSON.stringify(pair)} (want key=value)`)
    metadata[pair.slice(0, eq)] = pair.slice(eq + 1)
  }
  return metadata
}

let args
try {
  args = parseArgs({
    options: {
      endpoint: { type: 'string' },
      file: { type: 'string' },
      'chunk-size': { type: 'string', default: String(64 * 1024 * 1024) },
      token: { type: 'string' },
      metadata: { type: 'string' },
      'stop-after': { type: 'string' },
      'resume-url': { type: 'string' },
    },
    strict: true,
  }).values
} catch (err) {
  fail(`${err.message}\n${USAGE}`)
}

if (!args.file || (!args.endpoint && !args['resume-url'])) fail(USAGE)

const chunkSize = parseBytes('chunk-size', args['chunk-size'])
const stopAfter = parseBytes('stop-after', args['stop-after'])
let size
try {
  size = statSync(args.file).size
} catch (err) {
  fail(err.message)
}

// An fs.ReadStream with a path makes tus-js-client use its FileSource: each chunk is a fresh
// ranged read stream, so memory stays bounded and a resume can start at any offset.
const input = createReadStream(args.file)
const headers = args.token ? { Authorization: `Bearer ${args.token}` } : {}

let done = false
const upload = new Upload(input, {
  endpoint: args.endpoint ?? null,
  uploadUrl: args['resume-url'] ?? null,
  chunkSize,
  uploadSize: size,
  headers,
  metadata: parseMetadata(args.metadata),
  retryDelays: [0, 500, 1000, 2000],
  storeFingerprintForResuming: false,
  removeFingerprintOnSuccess: false,
  onChunkComplete(_chunk, bytesAccepted, bytesTotal) {
    if (done || stopAfter == null) return
    if (bytesAccepted >= stopAfter && bytesAccepted < bytesTotal) {
      done = true
      const url = upload.url
      // abort(false): stop sending, keep the upload on the server (no DELETE).
      upload.abort(false).finally(() => {
        process.stdout.write(JSON.stringify({ url, bytes: bytesAccepted, stopped: true }) + '\n')
        process.exit(3)
      })
    }
  },
  onSuccess() {
    if (done) return
    done = true
    process.stdout.write(JSON.stringify({ url: upload.url, bytes: size }) + '\n')
    process.exit(0)
  },
  onError(err) {
    if (done) return
    done = true
    fail(err && err.message ? err.message : err, upload.url)
  },
})

upload.start()
