// Instant preview in real Chromium (Debian's /usr/bin/chromium) with playwright-core: upload a
// video through Uppy, open the viewer at once, and time the first decoded frame from the last
// upload byte. Used by tests/test_instant_preview_e2e.py and bench/instant_preview.py.
//
//   node e2e/instant.mjs '<json config>'
//
// Config: { baseUrl, token, file: path of the video to upload, artifacts: dir,
//           watchSeconds: keep playing this long after the first frame (0: just check it advances),
//           untilComplete: also wait for processing to complete and check the player ended up on
//           the full ladder (HLS), playbackRate: after the first frame (keeps a short clip playing
//           through the hand-over to the full ladder), toEnd: then play on (4x) and report whether
//           the video ended, timeoutMs }
// Prints one JSON object on the last line of stdout; exits 0 when every check passed.

import { mkdirSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";

const cfg = JSON.parse(process.argv[2] ?? process.env.E2E_CONFIG ?? "{}");
const ART = cfg.artifacts ?? path.resolve("../test-artifacts");
mkdirSync(ART, { recursive: true });
const base = cfg.baseUrl.replace(/\/$/, "");
const timeoutMs = cfg.timeoutMs ?? 300_000;
const started = Date.now();
const log = (...a) => console.error(`[instant ${((Date.now() - started) / 1000).toFixed(1)}s]`, ...a);
const result = { ok: false, file: path.basename(cfg.file) };

const browser = await chromium.launch({
  executablePath: cfg.chromium ?? "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--autoplay-policy=no-user-gesture-required"],
});

async function api(p) {
  const r = await fetch(base + p, { headers: { Authorization: `Bearer ${cfg.token}` } });
  return r.json();
}

try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.addInitScript((t) => sessionStorage.setItem("mediagate.token", t), cfg.token);
  const page = await context.newPage();
  page.on("pageerror", (e) => log("pageerror:", e.message));
  // stalls: "waiting" on the viewer's video after it first played (seeks excluded)
  await page.addInitScript(() => {
    // every stall and source change is also logged with where it happened (events), so a stall
    // can be told apart: the growing rung running dry, or the hand-over to the full ladder
    const w = (window.__instant = { playing: false, stalls: 0, stallMs: 0, since: 0, t0: 0, events: [] });
    const where = (v, kind) => {
      const p = v.closest(".player");
      const end = v.buffered.length ? v.buffered.end(v.buffered.length - 1) : 0;
      return {
        kind,
        at_s: w.t0 ? (Date.now() - w.t0) / 1000 : 0,
        current_time: Math.round(v.currentTime * 100) / 100,
        buffered_ahead_s: Math.round((end - v.currentTime) * 100) / 100,
        engine: p?.dataset.engine ?? null,
        levels: Number(p?.dataset.levels ?? 0),
        live: p?.dataset.live ?? null,
      };
    };
    // stricter than "waiting": gaps between presented frames (requestVideoFrameCallback) while
    // the video plays, e.g. a source hand-over the browser reports as a seek, not a stall
    w.frameGaps = 0;
    w.maxFrameGapMs = 0;
    // one clock across elements: a hand-over to another <video> is timed from the old element's
    // last presented frame to the new one's first (and how far the media time jumped)
    let last = null; // { now, mediaTime, v }
    const watchFrames = (v) => {
      const onFrame = (now, meta) => {
        if (!v.isConnected) return;
        if (last && last.v !== v && last.v.isConnected === false) {
          w.events.push({ ...where(v, "element switched"), gap_ms: Math.round(now - last.now), media_jump_s: Math.round((meta.mediaTime - last.mediaTime) * 1000) / 1000 });
        }
        if (last && !v.paused && !v.ended) {
          const gap = now - last.now;
          w.maxFrameGapMs = Math.max(w.maxFrameGapMs, Math.round(gap));
          if (gap > 200) {
            w.frameGaps += 1;
            w.events.push({ ...where(v, "frame gap"), gap_ms: Math.round(gap) });
          }
        }
        if (!last || last.v === v || !last.v.isConnected) last = { now, mediaTime: meta.mediaTime, v };
        v.requestVideoFrameCallback(onFrame);
      };
      v.requestVideoFrameCallback(onFrame);
      v.addEventListener("pause", () => {
        if (last?.v === v) last = null;
      });
    };
    const watched = new WeakSet();
    document.addEventListener("playing", (e) => {
      const v = e.target;
      if (!(v instanceof HTMLVideoElement)) return;
      if (!w.t0) w.t0 = Date.now();
      if (!watched.has(v)) {
        watched.add(v);
        watchFrames(v);
      }
      if (w.since) {
        w.stallMs += Date.now() - w.since;
        w.events.push({ ...where(v, "resumed"), stall_ms: Date.now() - w.since });
      }
      w.since = 0;
      w.playing = true;
    }, true);
    document.addEventListener("waiting", (e) => {
      const v = e.target;
      if (!(v instanceof HTMLVideoElement) || !w.playing || v.seeking || v.ended) return;
      w.stalls += 1;
      w.since = Date.now();
      w.events.push(where(v, "stall"));
    }, true);
    document.addEventListener("emptied", (e) => {
      if (e.target instanceof HTMLVideoElement && w.playing) w.events.push(where(e.target, "source changed"));
    }, true);
  });
  await page.goto(base + "/");
  await page.getByRole("grid", { name: "Files" }).waitFor({ state: "attached" });

  // upload through Uppy's Dashboard; the last PATCH answered = the last byte is stored
  let lastByteAt = 0;
  const afterLastByte = []; // the app's /api/files requests after the last byte: [at, method, path]
  page.on("response", (r) => {
    if (r.request().method() === "PATCH" && r.url().includes("/api/upload/") && r.status() === 204) lastByteAt = Date.now();
  });
  page.on("request", (r) => {
    const u = new URL(r.url());
    if (lastByteAt && u.pathname.startsWith("/api/files")) afterLastByte.push([Date.now(), r.method(), u.pathname + u.search]);
  });
  await page.keyboard.press("u");
  await page.locator(".uppy-Dashboard-inner").waitFor();
  await page.locator(".uppy-Dashboard-input").first().setInputFiles([cfg.file]);
  // the user closes the upload panel while the bytes go and watches the grid: the upload's
  // tile there becomes the file's tile at its last byte (no panel closing over the grid then)
  await page.locator(".uppy-StatusBar.is-uploading, .uppy-StatusBar.is-complete").waitFor({ timeout: timeoutMs });
  await page.keyboard.press("Escape");
  await page.locator(".uppy-Dashboard[aria-hidden=true]").waitFor({ state: "attached", timeout: 10_000 });

  // the tile of the new file, opened at once
  const name = path.basename(cfg.file);
  const cell = page.locator("[role=gridcell][data-id]", { hasText: name }).first();
  await cell.waitFor({ timeout: timeoutMs });
  result.upload_ms = lastByteAt - started;
  result.last_byte_at = lastByteAt; // epoch ms: the bench lines it up with the job's timestamps
  const tileAt = Date.now();
  result.tile_after_last_byte_ms = tileAt - lastByteAt;
  const fileId = await cell.getAttribute("data-id");
  // how the tile came: the file fetched by the id the upload's answer named, or a list refresh
  const before = afterLastByte.filter(([at]) => at >= lastByteAt && at <= tileAt);
  result.tile_by_id = before.some(([, m, p]) => m === "GET" && p === `/api/files/${fileId}`);
  result.lists_before_tile = before.filter(([, m, p]) => m === "GET" && (p === "/api/files" || p.startsWith("/api/files?"))).length;
  result.file_id = fileId;
  await cell.click(); // a click opens the viewer
  result.clicked_after_last_byte_ms = Date.now() - lastByteAt; // Playwright's click (actionability checks) done
  await page.locator("dialog.viewer[open]").waitFor();
  result.viewer_open_after_last_byte_ms = Date.now() - lastByteAt;

  // the first presented frame (requestVideoFrameCallback) of whichever player shows it
  let first = null;
  const deadline = Date.now() + timeoutMs;
  while (!first && Date.now() < deadline) {
    await page.locator(".viewer video").first().waitFor({ timeout: timeoutMs });
    first = await page.evaluate(
      () =>
        new Promise((resolve) => {
          const v = document.querySelector(".viewer video");
          if (!v) return resolve(null);
          const done = () => resolve({ at: Date.now(), engine: v.closest(".player")?.dataset.engine, t: v.currentTime });
          v.requestVideoFrameCallback(() => done());
          const gone = setInterval(() => {
            if (!v.isConnected) {
              clearInterval(gone);
              resolve(null); // re-rendered (e.g. direct play failed): wait for the next player
            }
          }, 100);
        }),
    );
  }
  if (!first) throw new Error("no frame before the timeout");
  const status = await api(`/api/files/${fileId}`);
  result.first_frame_after_last_byte_ms = first.at - lastByteAt;
  result.first_frame_at = first.at;
  result.engine_at_first_frame = first.engine;
  result.status_at_first_frame = status.processing_status;
  result.progress_at_first_frame = status.progress;
  result.playable_at_first_frame = status.playable;
  result.direct_play = status.direct_play;
  log("first frame", result.first_frame_after_last_byte_ms, "ms after the last byte via", first.engine, "while", status.processing_status);
  await page.screenshot({ path: path.join(ART, `instant-first-frame-${name}.png`) });

  // playback goes on: within 1.5 s on a quiet box; on a starved one the growing rung's next 2 s
  // segment may come late (that wait is counted as a stall), so allow up to 20 s
  const t1 = await page.evaluate(() => document.querySelector(".viewer video").currentTime);
  await page.waitForTimeout(1500);
  await page
    .waitForFunction((a) => document.querySelector(".viewer video").currentTime > a, t1, { timeout: 20_000 })
    .catch(() => undefined);
  const t2 = await page.evaluate(() => document.querySelector(".viewer video").currentTime);
  result.current_time = [t1, t2];
  if (!(t2 > t1)) throw new Error(`currentTime does not advance (${t1} -> ${t2})`);
  // slower playback: a short clip is still playing when its ladder completes (the hand-over)
  if (cfg.playbackRate) await page.evaluate((r) => (document.querySelector(".viewer video").playbackRate = r), cfg.playbackRate);

  if (cfg.watchSeconds) {
    // play on (to the end for the bench): stalls are counted by the init script
    const end = Date.now() + cfg.watchSeconds * 1000;
    while (Date.now() < end) {
      const ended = await page.evaluate(() => document.querySelector(".viewer video")?.ended ?? false);
      if (ended) break;
      await page.waitForTimeout(1000);
    }
    result.watched_to = await page.evaluate(() => document.querySelector(".viewer video")?.currentTime ?? -1);
  }

  if (cfg.untilComplete) {
    const until = Date.now() + timeoutMs;
    let item = status;
    while (item.processing_status !== "completed" && item.processing_status !== "failed" && Date.now() < until) {
      await page.waitForTimeout(1000);
      item = await api(`/api/files/${fileId}`);
    }
    result.final_status = item.processing_status;
    result.final_direct_play = item.direct_play;
    if (item.processing_status !== "completed") throw new Error(`processing ended ${item.processing_status}`);
    // the open viewer moves to the full ladder without a reload
    await page.waitForFunction(() => {
      const p = document.querySelector(".viewer .player");
      return p && p.dataset.engine === "hls.js" && Number(p.dataset.levels ?? 0) >= 2;
    }, null, { timeout: 30_000 });
    // how the hand-over went for a video still playing: the element kept its source (no
    // "emptied") and its buffer, and no stall
    result.handover = await page.evaluate(() => {
      const v = document.querySelector(".viewer video");
      const w = window.__instant;
      return {
        at_s: (Date.now() - w.t0) / 1000,
        ended: v.ended,
        paused: v.paused,
        current_time: v.currentTime,
        source_changes: w.events.filter((e) => e.kind === "source changed").length,
        stalls: w.stalls,
      };
    });
    // playing on from where it was (or, watched to the end before, from the start on play)
    await page.evaluate(() => {
      const v = document.querySelector(".viewer video");
      if (v.paused) v.play().catch(() => undefined);
    });
    await page.waitForFunction(() => document.querySelector(".viewer video").readyState >= 3, null, { timeout: 30_000 });
    const a = await page.evaluate(() => document.querySelector(".viewer video").currentTime);
    await page.waitForFunction((a) => {
      const v = document.querySelector(".viewer video");
      return v.currentTime > a + 0.5 || v.ended;
    }, a, { timeout: 30_000 });
    const b = await page.evaluate(() => document.querySelector(".viewer video").currentTime);
    result.final = await page.evaluate(() => {
      const p = document.querySelector(".viewer .player");
      return { engine: p.dataset.engine, levels: Number(p.dataset.levels ?? 0), live: p.dataset.live ?? null };
    });
    result.final.current_time = [a, b];
    if (cfg.toEnd) {
      // on to the end, faster: the stream ends ("ended") instead of waiting at its last frame
      await page.evaluate(() => (document.querySelector(".viewer video").playbackRate = 4));
      // the highest rung shown on the way (hls.js's LEVEL_SWITCHED → data-level)
      let maxLevel = 0;
      const until = Date.now() + 120_000;
      while (Date.now() < until) {
        const [ended, level] = await page.evaluate(() => [
          document.querySelector(".viewer video").ended,
          Number(document.querySelector(".viewer .player")?.dataset.level ?? 0),
        ]);
        maxLevel = Math.max(maxLevel, level);
        if (ended) break;
        await page.waitForTimeout(250);
      }
      result.reached_end = await page.evaluate(() => {
        const v = document.querySelector(".viewer video");
        return { ended: v.ended, current_time: v.currentTime, duration: v.duration };
      });
      result.reached_end.max_level = maxLevel;
    }
  }
  const w = await page.evaluate(() => window.__instant);
  result.stalls = w.stalls;
  result.stall_ms = w.stallMs + (w.since ? Date.now() - w.since : 0);
  result.playback_events = w.events;
  result.frame_gaps = w.frameGaps;
  result.max_frame_gap_ms = w.maxFrameGapMs;
  result.ok = true;
} catch (err) {
  result.error = String(err?.stack ?? err);
  log("failed:", err);
} finally {
  await browser.close();
  console.log(JSON.stringify(result));
  process.exit(result.ok ? 0 : 1);
}
