// Shared by the Chromium e2e scripts (run.mjs, organize.mjs): browser launch, named steps with a
// screenshot on failure, screenshots, assertions, and the JSON result the pytest side reads.

import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";

export function launch(cfg) {
  return chromium.launch({
    executablePath: cfg.chromium ?? "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--autoplay-policy=no-user-gesture-required",
    ],
  });
}

export function assert(cond, message) {
  if (!cond) throw new Error(`assertion failed: ${message}`);
}

/** Steps, screenshots and results for one script; `h.page` is screenshotted when a step fails. */
export function createHarness(artifacts, tag) {
  mkdirSync(artifacts, { recursive: true });
  const started = Date.now();
  const h = {
    results: { steps: [], screenshots: [], ok: true },
    page: null,
    log: (...a) => console.error(`[${tag} ${((Date.now() - started) / 1000).toFixed(1)}s]`, ...a),
    async shot(page, name, opts = {}) {
      const file = path.join(artifacts, `${name}.png`);
      await page.screenshot({ path: file, ...opts });
      h.results.screenshots.push(file);
      return file;
    },
    async step(name, fn) {
      const t0 = Date.now();
      h.log("→", name);
      try {
        const value = await fn();
        h.results.steps.push({ name, ok: true, ms: Date.now() - t0, ...(value && typeof value === "object" ? { value } : {}) });
        return value;
      } catch (err) {
        h.results.ok = false;
        h.results.steps.push({ name, ok: false, ms: Date.now() - t0, error: String(err?.stack ?? err) });
        h.log("✗", name, err);
        if (h.page) await h.shot(h.page, `fail-${name.replace(/\W+/g, "-")}`).catch(() => undefined);
        throw err;
      }
    },
    /** Write `<file>` and print the result as the last stdout line; the exit code says ok. */
    finish(file, exitCode) {
      h.results.seconds = (Date.now() - started) / 1000;
      writeFileSync(path.join(artifacts, file), JSON.stringify(h.results, null, 2));
      console.log(JSON.stringify(h.results));
      process.exit(exitCode || (h.results.ok ? 0 : 1));
    },
  };
  return h;
}
