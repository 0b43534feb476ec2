// End-to-end test of the web app in real Chromium (Debian's /usr/bin/chromium) with playwright-core.
//
//   node e2e/run.mjs '<json config>'
//
// Config: { baseUrl, token, adminToken, expiredToken, files: [paths uploaded through the UI],
//           video: "<name of the video among files>", photo: "<name of a photo>",
//           resumeFile: path (optional, > 50 MiB: reload mid-upload, then resume),
//           bigUserToken: token of a user with 10,000+ files (optional), artifacts: dir }
// Prints one JSON object on the last line of stdout; exits 0 when every step passed.

import path from "node:path";
import { assert, createHarness, launch } from "./harness.mjs";

process.on("unhandledRejection", (e) => console.error("[e2e] unhandled rejection:", e?.message ?? e));
const cfg = JSON.parse(process.argv[2] ?? process.env.E2E_CONFIG ?? "{}");
const ART = cfg.artifacts ?? path.resolve("../test-artifacts");
const base = cfg.baseUrl.replace(/\/$/, "");
const H = createHarness(ART, "e2e");
const { results, log, shot, step } = H;
const browser = await launch(cfg);

async function signedInPage(token, viewport = { width: 1440, height: 900 }, extra = {}) {
  const context = await browser.newContext({ viewport, acceptDownloads: true, ...extra });
  await context.addInitScript((t) => {
    if (!sessionStorage.getItem("mediagate.token")) sessionStorage.setItem("mediagate.token", t);
  }, token);
  const page = await context.newPage();
  page.on("pageerror", (e) => log("pageerror:", e.message));
  return { context, page };
}

const activeIndex = (page) => page.evaluate(() => Number(document.activeElement?.closest?.("[role=gridcell]")?.dataset.index ?? -1));
const activeId = (page) => page.evaluate(() => document.activeElement?.closest?.("[role=gridcell]")?.dataset.id ?? null);

async function cellIndexByName(page, name) {
  return page.evaluate((n) => {
    const cell = [...document.querySelectorAll("[role=gridcell][data-id]")].find((c) => c.querySelector(".name")?.textContent === n);
    return cell ? Number(cell.dataset.index) : -1;
  }, name);
}

async function focusCell(page, index) {
  // Move the roving tab stop with the keyboard only: Home (Ctrl) then arrows.
  await page.locator("[role=gridcell][tabindex='0']").focus();
  await page.keyboard.press("Control+Home");
  for (let i = 0; i < index; i++) await page.keyboard.press("ArrowRight");
  assert((await activeIndex(page)) === index, `focus on cell ${index}`);
}

let exitCode = 0;
try {
  // ---------------------------------------------------------------- sign-in
  const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 }, acceptDownloads: true });
  const page = await ctx.newPage();
  H.page = page;
  page.on("pageerror", (e) => log("pageerror:", e.message));
  const consoleErrors = [];
  page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));

  await step("sign-in rejects garbage and accepts a token", async () => {
    await page.goto(base + "/");
    await page.getByLabel("Access token").fill("not a token");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByText("doesn't look like a token").waitFor();
    await shot(page, "01-signin");
    await page.getByLabel("Access token").fill(cfg.token);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("grid", { name: "Files" }).waitFor({ state: "attached" });
    await page.getByText("Your library is empty").waitFor();
    await shot(page, "02-library-empty");
  });

  // ---------------------------------------------------------------- upload
  const names = cfg.files.map((f) => path.basename(f));
  await step("upload files through Uppy's Dashboard (tus)", async () => {
    const patches = [];
    page.on("request", (r) => {
      if (r.method() === "PATCH" && r.url().includes("/api/upload/")) patches.push(r.url());
    });
    await page.keyboard.press("u"); // shortcut opens the Dashboard
    await page.locator(".uppy-Dashboard-inner").waitFor();
    await page.locator(".uppy-Dashboard-input").first().setInputFiles(cfg.files);
    await page.locator(".uppy-Dashboard-Item").nth(cfg.files.length - 1).waitFor();
    await page.waitForTimeout(150);
    await shot(page, "03-upload-dashboard");
    await page.locator(".uppy-StatusBar.is-complete").waitFor({ timeout: 120_000 });
    await shot(page, "03b-upload-complete");
    await page.keyboard.press("Escape");
    await page.locator(".uppy-Dashboard--modal .uppy-Dashboard-inner").waitFor({ state: "hidden" });
    return { patches: patches.length };
  });

  await step("files appear and show live processing status", async () => {
    await page.waitForFunction((n) => document.querySelectorAll("[role=gridcell][data-id]").length >= n, names.length, { timeout: 30_000 });
    const statuses = await page.$$eval("[role=gridcell][data-id]", (cells) => cells.map((c) => c.dataset.status));
    await shot(page, "04-library-processing");
    return { statuses };
  });

  await step("processing completes (failures show their reason)", async () => {
    await page.waitForFunction(
      () => [...document.querySelectorAll("[role=gridcell][data-id]")].every((c) => ["completed", "failed"].includes(c.dataset.status)),
      null,
      { timeout: 240_000, polling: 500 },
    );
    await page.waitForFunction(
      (names) => names.every((n) => [...document.querySelectorAll("[role=gridcell][data-id]")].some((c) => c.querySelector(".name")?.textContent === n && c.querySelector("img.loaded"))),
      [cfg.video, cfg.photo],
      { timeout: 15_000 },
    );
    await page.waitForTimeout(400); // thumbnails fade in
    await shot(page, "05-library");
    const cells = await page.$$eval("[role=gridcell][data-id]", (cs) =>
      cs.map((c) => ({ name: c.querySelector(".name")?.textContent, status: c.dataset.status, type: c.dataset.type, meta: c.querySelector(".meta")?.textContent, thumb: !!c.querySelector("img.loaded") })),
    );
    for (const n of [cfg.video, cfg.photo]) {
      const c = cells.find((x) => x.name === n);
      assert(c && c.status === "completed", `${n} completed: ${JSON.stringify(c)}`);
      assert(c.thumb, `${n} has a loaded thumbnail`);
    }
    if (cfg.failing) {
      const f = cells.find((x) => x.name === cfg.failing);
      assert(f && f.status === "failed" && f.meta && f.meta.length > 5, `failed file shows a reason: ${JSON.stringify(f)}`);
    }
    return { cells };
  });

  // ---------------------------------------------------------------- keyboard + grid semantics
  await step("grid keyboard navigation (roving tabindex)", async () => {
    const stops = await page.$$eval("[role=grid] [tabindex='0']", (els) => els.length);
    assert(stops === 1, `exactly one tab stop in the grid, got ${stops}`);
    await focusCell(page, 0);
    await page.keyboard.press("ArrowRight");
    assert((await activeIndex(page)) === 1, "ArrowRight moves to the next cell");
    await page.keyboard.press("ArrowLeft");
    assert((await activeIndex(page)) === 0, "ArrowLeft moves back");
    await page.keyboard.press("End");
    const end = await activeIndex(page);
    assert(end > 0, "End moves to the end of the row");
    await page.keyboard.press("Home");
    assert((await activeIndex(page)) === 0, "Home moves to the row start");
    const roles = await page.evaluate(() => ({
      grid: document.querySelector("[role=grid]")?.getAttribute("aria-multiselectable"),
      rows: document.querySelectorAll("[role=grid] > [role=row]").length,
      cellsInRows: document.querySelectorAll("[role=row] > [role=gridcell]").length,
      labelled: [...document.querySelectorAll("[role=gridcell]")].every((c) => (c.getAttribute("aria-label") ?? "").length > 3),
    }));
    assert(roles.grid === "true" && roles.rows > 0 && roles.labelled, `grid semantics ${JSON.stringify(roles)}`);
    return roles;
  });

  // ---------------------------------------------------------------- video viewer
  let videoId = null;
  await step("video viewer plays the HLS ladder with storyboard", async () => {
    const index = await cellIndexByName(page, cfg.video);
    assert(index >= 0, "video cell present");
    await focusCell(page, index);
    videoId = await activeId(page);
    await page.keyboard.press("Enter");
    const dialog = page.locator("dialog.viewer[open]");
    await dialog.waitFor();
    await page.locator(".viewer video").waitFor();
    const support = await page.evaluate(() => ({
      mse: typeof MediaSource !== "undefined",
      h264aac: typeof MediaSource !== "undefined" && MediaSource.isTypeSupported('video/mp4; codecs="avc1.42E01E,mp4a.40.2"'),
      nativeHls: document.createElement("video").canPlayType("application/vnd.apple.mpegurl"),
    }));
    log("media support", support);
    await page.waitForFunction(() => {
      const v = document.querySelector(".viewer video");
      return v && v.currentTime > 1.2;
    }, null, { timeout: 30_000 });
    const t1 = await page.evaluate(() => document.querySelector(".viewer video").currentTime);
    await page.waitForTimeout(700);
    const t2 = await page.evaluate(() => document.querySelector(".viewer video").currentTime);
    assert(t2 > t1, `currentTime advances (${t1} → ${t2})`);
    const player = await page.evaluate(() => {
      const p = document.querySelector(".viewer .player");
      const v = p.querySelector("video");
      return { engine: p.dataset.engine, level: p.dataset.level, storyboard: Number(p.dataset.storyboard ?? 0), poster: !!v.poster, width: v.videoWidth, height: v.videoHeight, qualities: [...p.querySelectorAll(".quality option")].map((o) => o.textContent) };
    });
    assert(player.storyboard > 0, "storyboard cues loaded");
    assert(player.poster, "poster set");
    // Hover the seek bar: the storyboard tile appears.
    const seek = page.locator(".viewer .seek");
    const box = await seek.boundingBox();
    await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2);
    await page.locator(".seek-preview.with-image").waitFor();
    const bg = await page.$eval(".seek-preview-img", (el) => el.style.backgroundImage);
    assert(bg.includes("sprite.jpg"), `seek preview shows the sprite (${bg})`);
    await shot(page, "06-viewer-video");
    // Keyboard on the seek slider seeks instead of changing file.
    await seek.focus();
    const before = await page.evaluate(() => document.querySelector(".viewer video").currentTime);
    await page.keyboard.press("ArrowLeft");
    const after = await page.evaluate(() => document.querySelector(".viewer video").currentTime);
    assert(after < before, "ArrowLeft on the seek bar rewinds");
    assert((await page.getAttribute("dialog.viewer", "data-file-id")) === videoId, "still on the video");
    return { support, player, t1, t2 };
  });

  await step("viewer: arrows move through files, image zoom, Esc returns focus", async () => {
    await page.locator("dialog.viewer .close").focus();
    const visited = [];
    let photoSeen = false;
    for (let i = 0; i < names.length + 1 && !photoSeen; i++) {
      await page.keyboard.press("ArrowRight");
      const title = await page.locator("#viewer-title").textContent();
      visited.push(title);
      photoSeen = title === cfg.photo;
      if (!photoSeen && (await page.locator("dialog.viewer .nav-next").isDisabled())) break;
    }
    if (!photoSeen) {
      for (let i = 0; i < names.length && !photoSeen; i++) {
        await page.keyboard.press("ArrowLeft");
        const title = await page.locator("#viewer-title").textContent();
        visited.push(title);
        photoSeen = title === cfg.photo;
      }
    }
    assert(photoSeen, `reached the photo with arrow keys: ${visited.join(", ")}`);
    await page.locator(".stage-image[data-loaded=full]").waitFor({ timeout: 15_000 });
    const s0 = Number(await page.getAttribute(".stage-image", "data-scale"));
    await page.keyboard.press("+");
    await page.keyboard.press("+");
    const s1 = Number(await page.getAttribute(".stage-image", "data-scale"));
    assert(s1 > s0 * 1.5, `zoom in (${s0} → ${s1})`);
    await shot(page, "07b-viewer-image-zoomed");
    await page.keyboard.press("0");
    await page.waitForTimeout(100);
    await shot(page, "07-viewer-image");
    await page.keyboard.press("i");
    await page.locator(".viewer-details dd").first().waitFor();
    await page.waitForTimeout(300);
    await shot(page, "07c-viewer-details");
    await page.keyboard.press("i");
    const single = page.waitForEvent("download", { timeout: 20_000 });
    await page.locator("dialog.viewer .viewer-actions .btn-secondary").click();
    const one = await single;
    assert(one.suggestedFilename() === cfg.photo, `single download named ${one.suggestedFilename()}`);
    const singleFile = path.join(ART, "single-download.bin");
    await one.saveAs(singleFile);
    const photoId = await page.getAttribute("dialog.viewer", "data-file-id");
    // Tab stays inside the dialog.
    for (let i = 0; i < 12; i++) {
      await page.keyboard.press("Tab");
      const inside = await page.evaluate(() => !!document.activeElement?.closest("dialog.viewer"));
      assert(inside, "focus trapped in the viewer");
    }
    await page.keyboard.press("Escape");
    await page.locator("dialog.viewer").waitFor({ state: "hidden" });
    const back = await activeId(page);
    assert(back === photoId, `focus returned to the photo's cell (${back} vs ${photoId})`);
    return { visited, zoom: [s0, s1], singleFile };
  });

  // ---------------------------------------------------------------- selection + ZIP
  let zip = null;
  await step("select with the checkbox, Shift-click, Space, Ctrl-A; batch ZIP download", async () => {
    const cells = page.locator("[role=gridcell][data-id]");
    const selected = async (n, what) => {
      try {
        await page.waitForFunction((k) => document.querySelectorAll("[role=gridcell][aria-selected=true]").length === k, n, { timeout: 5000 });
      } catch {
        const got = await page.locator("[role=gridcell][aria-selected=true]").count();
        throw new Error(`${what}: expected ${n} selected, got ${got}`);
      }
    };
    await cells.nth(0).hover();
    await cells.nth(0).locator("[data-check]").click();
    await selected(1, "the tile's checkbox selects one");
    assert(!(await page.locator("dialog.viewer[open]").count()), "the checkbox does not open the viewer");
    await cells.nth(2).click({ modifiers: ["Shift"] });
    await selected(3, "shift-click selects a range");
    await page.keyboard.press("Space"); // toggles the focused (last clicked) cell off
    await selected(2, "space toggles");
    await cells.nth(1).click({ modifiers: ["Control"] });
    await selected(1, "ctrl-click toggles");
    await page.keyboard.press("Control+a");
    await page.waitForFunction((k) => document.querySelectorAll("[role=gridcell][aria-selected=true]").length === k, names.length);
    await page.locator(".selection-bar").waitFor();
    await page.waitForTimeout(300); // selection transitions
    await shot(page, "08-selection");
    const downloadPromise = page.waitForEvent("download", { timeout: 60_000 });
    await page.locator(".selection-bar [data-action=zip]").click();
    const download = await downloadPromise;
    const file = path.join(ART, "batch-download.zip");
    await download.saveAs(file);
    const route = await page.evaluate(() => document.documentElement.dataset.zipRoute ?? null);
    zip = { file, suggested: download.suggestedFilename(), route };
    await page.waitForTimeout(300);
    await shot(page, "08b-zip-started");
    await page.keyboard.press("Escape");
    return zip;
  });

  await step("Delete moves to the trash at once, with an Undo toast", async () => {
    const target = cfg.deleteName ?? cfg.failing ?? names[names.length - 1];
    const index = await cellIndexByName(page, target);
    assert(index >= 0, `${target} present`);
    await focusCell(page, index);
    await page.keyboard.press("Delete");
    await page.waitForFunction((n) => ![...document.querySelectorAll("[role=gridcell] .name")].some((e) => e.textContent === n), target);
    await page.locator(".toast").getByRole("button", { name: "Undo" }).waitFor();
    await shot(page, "09-trash-undo");
    const count = await page.locator("[role=gridcell][data-id]").count();
    return { deleted: target, remaining: count };
  });

  await step("keyboard shortcuts sheet", async () => {
    await page.locator("[role=gridcell][tabindex='0']").focus();
    await page.keyboard.press("?");
    await page.locator("dialog.shortcuts[open]").waitFor();
    await shot(page, "09b-shortcuts");
    await page.keyboard.press("Escape");
    await page.locator("dialog.shortcuts").waitFor({ state: "detached" });
  });

  await step("filter by type and search by name", async () => {
    await page.getByRole("radio", { name: "Videos" }).check({ force: true });
    await page.waitForFunction(() => {
      const cells = [...document.querySelectorAll("[role=gridcell][data-id]")];
      return cells.length > 0 && cells.every((c) => c.dataset.type === "video");
    });
    await page.getByRole("radio", { name: "All" }).check({ force: true });
    await page.getByLabel("Search files by name").fill(cfg.photo.slice(0, 6));
    await page.waitForFunction((n) => {
      const cells = [...document.querySelectorAll("[role=gridcell][data-id] .name")];
      return cells.length > 0 && cells.every((c) => c.textContent.toLowerCase().includes(n.toLowerCase()));
    }, cfg.photo.slice(0, 6));
    await shot(page, "10-search");
    await page.getByLabel("Search files by name").fill("");
    await page.waitForFunction((n) => document.querySelectorAll("[role=gridcell][data-id]").length >= n, 2);
  });

  // ---------------------------------------------------------------- resume after reload
  if (cfg.resumeFile) {
    await step("an upload interrupted by a reload resumes from the server's offset", async () => {
      let patches = 0;
      await page.route("**/api/upload/*", async (route) => {
        if (route.request().method() === "PATCH" && ++patches >= 2) return route.abort("connectionreset");
        return route.continue();
      });
      const firstPatch = page.waitForResponse((r) => r.request().method() === "PATCH" && r.status() === 204, { timeout: 60_000 });
      firstPatch.catch(() => undefined);
      await page.locator(".upload-btn").click();
      await page.locator(".uppy-Dashboard-input").first().setInputFiles(cfg.resumeFile);
      await firstPatch;
      await page.waitForFunction(() => !!document.querySelector("[data-status=uploading]"));
      await shot(page, "11-uploading-tile");
      // The reload happens while PATCHes are still refused: Uppy retries a reset PATCH at
      // once, and with the route gone first a retry could finish the whole upload (0.3 s for
      // the rest of it) before the reload, leaving nothing to resume.
      await page.reload();
      await page.getByRole("grid", { name: "Files" }).waitFor({ state: "attached" });
      await page.unroute("**/api/upload/*");
      const banner = page.getByRole("region", { name: "Interrupted uploads" });
      await banner.waitFor();
      await page.waitForFunction(() => /% uploaded/.test(document.querySelector(".banner")?.textContent ?? ""), null, { timeout: 10_000 });
      await shot(page, "11b-resume-banner");
      const offsets = [];
      const heads = [];
      page.on("request", (r) => {
        if (!r.url().includes("/api/upload")) return;
        if (r.method() === "PATCH") offsets.push(Number(r.headers()["upload-offset"]));
        if (r.method() === "HEAD") heads.push(r.url());
        if (r.method() === "POST") offsets.push(-1); // a new upload would start over
      });
      const chooser = page.waitForEvent("filechooser");
      await page.locator("[data-action=resume]").click();
      await (await chooser).setFiles(cfg.resumeFile);
      await page.waitForFunction((n) => [...document.querySelectorAll("[role=gridcell][data-id] .name")].some((e) => e.textContent === n), path.basename(cfg.resumeFile), { timeout: 120_000 });
      assert(offsets.length > 0 && offsets[0] >= 50 * 1024 * 1024, `resumed at offset ${offsets[0]} (PATCH offsets ${offsets})`);
      assert(!offsets.includes(-1), "no new upload was created");
      assert(await banner.isHidden(), "banner gone");
      return { offsets, heads: heads.length };
    });
  }

  // ---------------------------------------------------------------- session expiry
  if (cfg.expiredToken) {
    await step("an expired session says so clearly", async () => {
      const { context, page: p } = await signedInPage(cfg.expiredToken);
      H.page = p;
      await p.goto(base + "/");
      await p.getByText(/Your session expired/).waitFor();
      await shot(p, "12-session-expired");
      await context.close();
      H.page = page;
    });
  }

  // ---------------------------------------------------------------- admin
  if (cfg.adminToken) {
    await step("admin page: queue, jobs by status, failures with retry", async () => {
      const { context, page: p } = await signedInPage(cfg.adminToken);
      H.page = p;
      await p.goto(base + "/#/admin");
      await p.getByRole("heading", { name: "Processing" }).waitFor();
      await p.locator(".stat").first().waitFor();
      const failures = await p.locator("tr[data-job]").count();
      let retried = false;
      if (failures > 0) {
        await shot(p, "13-admin");
        const before = await p.locator("tr[data-job]").count();
        await p.locator("tr[data-job] button").first().click();
        await p.getByText(/Retrying|Could not retry/).first().waitFor();
        retried = (await p.getByText(/^Retrying/).count()) > 0;
        await p.waitForFunction((b) => document.querySelectorAll("tr[data-job]").length <= b, before);
      } else {
        await shot(p, "13-admin");
      }
      await context.close();
      H.page = page;
      return { failures, retried };
    });
  }

  // ---------------------------------------------------------------- phone
  await step("phone-sized screen", async () => {
    const { context, page: p } = await signedInPage(cfg.token, { width: 390, height: 844 }, { deviceScaleFactor: 2, hasTouch: true, isMobile: true });
    H.page = p;
    await p.goto(base + "/");
    await p.locator("[role=gridcell][data-id] img.loaded").first().waitFor();
    await p.waitForTimeout(400);
    await shot(p, "14-phone-library");
    const overflow = await p.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
    assert(!overflow, "no horizontal overflow on a phone");
    const idx = await cellIndexByName(p, cfg.photo);
    await p.locator(`[role=gridcell][data-index="${idx}"]`).tap();
    await p.locator("dialog.viewer[open] .stage-image[data-loaded=full]").waitFor();
    await shot(p, "15-phone-viewer");
    await p.locator("dialog.viewer .close").tap();
    await context.close();
    H.page = page;
  });

  // ---------------------------------------------------------------- 10,000 files
  if (cfg.bigUserToken) {
    await step("10,000+ files: virtualised, smooth infinite scroll", async () => {
      const { context, page: p } = await signedInPage(cfg.bigUserToken);
      H.page = p;
      await p.goto(base + "/");
      await p.locator("[role=gridcell][data-id]").first().waitFor();
      await shot(p, "16-big-library");
      const metrics = await p.evaluate(async () => {
        const scroller = document.querySelector(".grid-scroll");
        const frames = [];
        let maxCells = 0;
        let last = performance.now();
        const deadline = performance.now() + 45_000;
        while (performance.now() < deadline) {
          scroller.scrollTop += 2400;
          await new Promise((r) => requestAnimationFrame(r));
          const now = performance.now();
          frames.push(now - last);
          last = now;
          maxCells = Math.max(maxCells, document.querySelectorAll("[role=gridcell]").length);
          const done = document.querySelector("[role=grid]")?.getAttribute("aria-rowcount") !== "-1";
          if (done && scroller.scrollTop + scroller.clientHeight >= scroller.scrollHeight - 2) break;
        }
        frames.sort((a, b) => a - b);
        for (let i = 0; i < 3; i++) await new Promise((r) => requestAnimationFrame(r));
        const cells = document.querySelectorAll("[role=gridcell][data-id]");
        return {
          frames: frames.length,
          p50: frames[Math.floor(frames.length / 2)],
          p95: frames[Math.floor(frames.length * 0.95)],
          maxCellsInDom: maxCells,
          lastIndex: Math.max(-1, ...[...cells].map((c) => Number(c.dataset.index))),
          domOrdered: [...cells].every((c, i, all) => i === 0 || Number(all[i - 1].dataset.index) < Number(c.dataset.index)),
          count: document.querySelector(".count")?.textContent,
        };
      });
      await shot(p, "16b-big-library-end");
      assert(metrics.lastIndex >= 9_999, `scrolled to the end (${JSON.stringify(metrics)})`);
      assert(metrics.maxCellsInDom < 400, `only visible rows are in the DOM (${metrics.maxCellsInDom})`);
      assert(metrics.domOrdered, "rows are in DOM order");
      await context.close();
      H.page = page;
      return metrics;
    });
  }

  results.consoleErrors = consoleErrors;
  await ctx.close();
} catch {
  exitCode = 1;
} finally {
  await browser.close();
}
H.finish("e2e-results.json", exitCode);
