#!/usr/bin/env node
// A reference tus server for bench/upload.py: @tus/server + @tus/file-store, no auth.
//
//   node bench/tus_node_server.mjs --dir DIR [--port 0] [--host 127.0.0.1]
//
// Uploads go to DIR/<id> (with DIR/<id>.json holding the upload's info). Prints one JSON line
// {"url": "http://host:port/files"} once listening (port 0 = pick a free one); stops on
// SIGTERM/SIGINT.

import { parseArgs } from 'node:util'

import { FileStore } from '@tus/file-store'
import { Server } from '@tus/server'

const { values: args } = parseArgs({
  options: {
    dir: { type: 'string' },
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
  },
  strict: true,
})
if (!args.dir) {
  console.error('usage: tus_node_server.mjs --dir DIR [--port N] [--host H]')
  process.exit(2)
}

const tus = new Server({
  path: '/files',
  datastore: new FileStore({ directory: args.dir }),
})
const http = tus.listen({ host: args.host, port: Number(args.port) }, () => {
  const { address, port } = http.address()
  process.stdout.write(JSON.stringify({ url: `http://${address}:${port}/files` }) + '\n')
})

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    http.close()
    process.exit(0)
  })
}
