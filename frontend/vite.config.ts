import { defineConfig } from "vitest/config";

// The app is served at `/` by the Worker (Workers Assets) or the local server (FRONTEND_DIR).
// `sw.js` (the download service worker) must sit at the root to control the whole origin.
export default defineConfig({
  base: "/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: true,
    chunkSizeWarningLimit: 800,
    rollupOptions: {
      input: { main: "index.html", sw: "src/sw.ts" },
      output: {
        entryFileNames: (chunk) => (chunk.name === "sw" ? "sw.js" : "assets/[name]-[hash].js"),
      },
    },
  },
  server: {
    proxy: { "/api": process.env.MEDIAGATE_API ?? "http://127.0.0.1:8787" },
  },
  test: {
    environment: "node",
    include: ["test/**/*.test.ts"],
  },
});
