// End-to-end test of organizing and sharing in real Chromium (issue 11), driven by
// tests/test_organize_e2e.py:
//
//   node e2e/organize.mjs '<json config>'
//
// Config: { baseUrl, token, chromium, artifacts, video: "<name>", photos: ["<name>", …] } — the files are
// already uploaded and processed. Prints one JSON object on the last line; exits 0 when every step passed.

import path from "node:path";
import { assert, createHarness, launch } from "./harness.mjs";

const cfg = JSON.parse(process.argv[2] ?? "{}");
const ART = cfg.artifacts;
const base = cfg.baseUrl.replace(/\/$/, "");
const H = createHarness(ART, "organize");
const { log, step } = H;
const browser = await launch(cfg);

const cellByName = (page, name) => page.locator("[role=gridcell][data-id]").filter({ has: page.locator(".name", { hasText: name }) });
const idByName = (page, name) => cellByName(page, name).getAttribute("data-id");
const hash = (page) => page.evaluate(() => location.hash);
const viewerId = (page) => page.locator("dialog.viewer[open]").getAttribute("data-file-id");

async function waitHash(page, expected) {
  await page.waitForFunction((h) => location.hash === h, expected, { timeout: 10_000 }).catch(async () => {
    throw new Error(`hash ${await hash(page)} != ${expected}`);
  });
}

async function videoPlays(page) {
  await page.locator("dialog.viewer[open] video").waitFor();
  await page.waitForFunction(() => (document.querySelector(".viewer video")?.currentTime ?? 0) > 0.8, null, { timeout: 30_000 });
  const t1 = await page.evaluate(() => document.querySelector(".viewer video").currentTime);
  await page.waitForTimeout(700);
  const t2 = await page.evaluate(() => document.querySelector(".viewer video").currentTime);
  assert(t2 > t1, `currentTime advances (${t1} → ${t2})`);
  return { t1, t2, engine: await page.getAttribute(".viewer .player", "data-engine") };
}

let exitCode = 0;
try {
  const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  await ctx.addInitScript((t) => sessionStorage.setItem("mediagate.token", t), cfg.token);
  const page = await ctx.newPage();
  H.page = page;
  page.on("pageerror", (e) => log("pageerror:", e.message));
  const [photoA, photoB, photoC] = cfg.photos;
  const ids = {};

  await step("library loads; a click opens the viewer and the URL follows it", async () => {
    await page.goto(base + "/#/");
    await page.waitForFunction((n) => document.querySelectorAll("[role=gridcell][data-id]").length >= n, cfg.photos.length + 1, { timeout: 30_000 });
    for (const n of [cfg.video, ...cfg.photos]) ids[n] = await idByName(page, n);
    await cellByName(page, photoA).click();
    await page.locator("dialog.viewer[open]").waitFor();
    assert((await viewerId(page)) === ids[photoA], "viewer shows the clicked file");
    await waitHash(page, `#/files/${ids[photoA]}`);
    assert((await page.locator("[role=gridcell][aria-selected=true]").count()) === 0, "a plain click does not select");
    await page.keyboard.press("ArrowRight");
    const second = await viewerId(page);
    await waitHash(page, `#/files/${second}`);
    return { ids, second };
  });

  await step("Back closes the viewer, Forward reopens it", async () => {
    const open = await viewerId(page);
    await page.goBack();
    await page.locator("dialog.viewer").waitFor({ state: "hidden" });
    await waitHash(page, "#/");
    await page.goForward();
    await page.locator("dialog.viewer[open]").waitFor();
    assert((await viewerId(page)) === open, "forward reopens the same file");
    await page.keyboard.press("Escape");
    await page.locator("dialog.viewer").waitFor({ state: "hidden" });
    await waitHash(page, "#/");
  });

  await step("deep link #/files/<id> survives a reload", async () => {
    await page.goto(`${base}/#/files/${ids[photoB]}`);
    await page.reload();
    await page.locator("dialog.viewer[open]").waitFor();
    assert((await viewerId(page)) === ids[photoB], "the linked file is open after reload");
    await page.locator(".stage-image[data-loaded=full]").waitFor({ timeout: 15_000 });
  });

  await step("rename inline and favourite in the viewer", async () => {
    await page.locator("dialog.viewer button.rename").click();
    const input = page.locator("dialog.viewer .rename-input");
    await input.waitFor();
    await input.fill(cfg.renameTo);
    await input.press("Enter");
    await page.waitForFunction((n) => document.querySelector("#viewer-title")?.textContent === n, cfg.renameTo);
    await page.locator("dialog.viewer .fav-toggle").click();
    await page.waitForFunction(() => document.querySelector("dialog.viewer .fav-toggle")?.getAttribute("aria-pressed") === "true");
    await page.screenshot({ path: path.join(ART, "organize-01-viewer.png") });
    await page.keyboard.press("Escape");
    await page.locator("dialog.viewer").waitFor({ state: "hidden" });
    await page.waitForFunction((n) => [...document.querySelectorAll("[role=gridcell] .name")].some((e) => e.textContent === n), cfg.renameTo);
    const fav = await page.getAttribute(`[role=gridcell][data-id="${ids[photoB]}"]`, "data-favourite");
    assert(fav === "true", "the tile shows the favourite");
    await page.goto(`${base}/#/favourites`);
    await page.waitForFunction((id) => {
      const cells = [...document.querySelectorAll("[role=gridcell][data-id]")];
      return cells.length === 1 && cells[0].dataset.id === id;
    }, ids[photoB]);
  });

  let albumId = null;
  await step("make an album from a multi-selection (checkbox + Ctrl-click)", async () => {
    await page.goto(`${base}/#/`);
    await cellByName(page, photoA).waitFor();
    await cellByName(page, photoA).hover();
    await cellByName(page, photoA).locator("[data-check]").click();
    await cellByName(page, photoC).click({ modifiers: ["Control"] });
    await cellByName(page, cfg.video).click({ modifiers: ["Control"] });
    await page.waitForFunction(() => document.querySelectorAll("[role=gridcell][aria-selected=true]").length === 3);
    assert(!(await page.locator("dialog.viewer[open]").count()), "selecting did not open the viewer");
    await page.locator(".selection-bar [data-action=add-to-album]").click();
    await page.getByLabel("New album name").fill(cfg.albumName);
    await page.getByRole("button", { name: "Create album" }).click();
    await page.getByRole("button", { name: "Open album" }).click();
    await page.waitForFunction(() => /^#\/albums\/[^/]+$/.test(location.hash));
    albumId = (await hash(page)).split("/")[2];
    await page.waitForFunction(() => document.querySelectorAll("[role=gridcell][data-id]").length === 3, null, { timeout: 10_000 });
    await page.getByRole("heading", { name: cfg.albumName }).waitFor();
    // set a cover from a one-file selection
    await cellByName(page, photoC).hover();
    await cellByName(page, photoC).locator("[data-check]").click();
    await page.locator(".selection-bar [data-action=set-cover]").click();
    await page.getByText("Album cover set").waitFor();
    await page.keyboard.press("Escape");
    await page.screenshot({ path: path.join(ART, "organize-02-album.png") });
    return { albumId, cover: ids[photoC] };
  });

  await step("deep link #/albums/<id> survives a reload; Back/Forward between pages", async () => {
    await page.reload();
    await page.getByRole("heading", { name: cfg.albumName }).waitFor();
    await page.waitForFunction(() => document.querySelectorAll("[role=gridcell][data-id]").length === 3, null, { timeout: 10_000 });
    await page.locator(".sidebar [data-nav=trash]").click();
    await waitHash(page, "#/trash");
    await page.goBack();
    await waitHash(page, `#/albums/${albumId}`);
    await page.getByRole("heading", { name: cfg.albumName }).waitFor();
    await page.waitForFunction(() => document.querySelectorAll("[role=gridcell][data-id]").length === 3);
    await page.goForward();
    await waitHash(page, "#/trash");
    await page.getByRole("heading", { name: "Trash", exact: true }).waitFor();
    await page.goBack();
    await page.getByRole("heading", { name: cfg.albumName }).waitFor();
  });

  let shareUrl = null;
  await step("share the album: create a link and copy it", async () => {
    await page.locator("[data-action=share-album]").click();
    await page.locator("dialog.share-dialog[open]").waitFor();
    await page.locator("[data-action=create-share]").click();
    const url = page.locator("dialog.share-dialog .share-url").first();
    await url.waitFor();
    shareUrl = await url.inputValue();
    assert(/#\/s\/[^/]+$/.test(shareUrl), `share URL ${shareUrl}`);
    await page.screenshot({ path: path.join(ART, "organize-03-share-dialog.png") });
    await page.keyboard.press("Escape");
    await page.locator("dialog.share-dialog").waitFor({ state: "detached" });
    return { shareUrl };
  });

  const pub = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const guest = await pub.newPage();
  guest.on("pageerror", (e) => log("guest pageerror:", e.message));
  await step("the share page works with no token: grid, viewer, the video plays", async () => {
    H.page = guest;
    const authHeaders = [];
    guest.on("request", (r) => r.headers().authorization && authHeaders.push(r.url()));
    await guest.goto(shareUrl);
    await guest.getByRole("heading", { name: cfg.albumName }).waitFor();
    await guest.waitForFunction(() => document.querySelectorAll("[role=gridcell][data-id]").length === 3, null, { timeout: 15_000 });
    assert(!(await guest.evaluate(() => sessionStorage.getItem("mediagate.token"))), "no token in the guest context");
    await guest.screenshot({ path: path.join(ART, "organize-04-share-page.png") });
    await cellByName(guest, cfg.video).click();
    await guest.locator("dialog.viewer[open]").waitFor();
    const played = await videoPlays(guest);
    assert(await guest.locator("dialog.viewer .viewer-actions .btn-secondary").isHidden(), "no download button without permission");
    assert(/#\/s\/[^/]+\/files\/[^/]+$/.test(await hash(guest)), "the share viewer has its own URL");
    await guest.screenshot({ path: path.join(ART, "organize-05-share-video.png") });
    assert(authHeaders.length === 0, `no bearer token sent: ${authHeaders}`);
    H.page = page;
    return played;
  });

  await step("revoke the link: the share page says not found at once", async () => {
    await page.locator("[data-action=share-album]").click();
    const views = await page.locator("dialog.share-dialog[open] .share-views").first().textContent();
    assert(/\b[1-9]\d* views?\b/.test(views), `the link shows its views (${views})`);
    await page.locator("dialog.share-dialog[open] [data-action=revoke]").first().click();
    await page.locator("dialog.share-dialog .share-list").getByText("No links yet.").waitFor();
    await page.keyboard.press("Escape");
    H.page = guest;
    await guest.goto(shareUrl.replace(/#.*$/, "") + "#/");
    await guest.goto(shareUrl);
    await guest.getByText("This link is not available").waitFor({ timeout: 10_000 });
    await guest.screenshot({ path: path.join(ART, "organize-06-share-revoked.png") });
    H.page = page;
    return { views };
  });
  await pub.close();

  await step("move to trash with Delete, undo from the toast", async () => {
    await page.goto(`${base}/#/`);
    await cellByName(page, photoC).waitFor();
    // the library as the server has it (the grid's tile count depends on when its pages settle)
    const library = async () => {
      const r = await fetch(`${base}/api/files?limit=200`, { headers: { Authorization: `Bearer ${cfg.token}` } });
      return (await r.json()).items.map((f) => f.id).sort().join(",");
    };
    const before = await library();
    await cellByName(page, photoC).focus();
    await page.keyboard.press("Delete");
    await page.waitForFunction((id) => !document.querySelector(`[role=gridcell][data-id="${id}"]`), ids[photoC]);
    const undo = page.locator(".toast").getByRole("button", { name: "Undo" });
    await undo.waitFor();
    await page.screenshot({ path: path.join(ART, "organize-07-undo-toast.png") });
    await undo.click();
    await page.waitForFunction((id) => !!document.querySelector(`[role=gridcell][data-id="${id}"]`), ids[photoC], { timeout: 10_000 });
    assert((await library()) === before, "all files back, nothing else changed");
  });

  await step("trash page: a trashed file shows there and restores", async () => {
    await cellByName(page, photoA).focus();
    await page.keyboard.press("Delete");
    await page.waitForFunction((id) => !document.querySelector(`[role=gridcell][data-id="${id}"]`), ids[photoA]);
    await page.locator(".sidebar [data-nav=trash]").click();
    await page.waitForFunction((id) => {
      const cells = [...document.querySelectorAll("[role=gridcell][data-id]")];
      return cells.length === 1 && cells[0].dataset.id === id;
    }, ids[photoA], { timeout: 10_000 });
    await cellByName(page, photoA).click(); // in the trash a click selects
    await page.locator(".selection-bar [data-action=restore]").click();
    await page.waitForFunction(() => document.querySelectorAll("[role=gridcell][data-id]").length === 0);
    await page.getByText("The trash is empty").waitFor();
  });

  await step("sort by name and group by month of date taken", async () => {
    await page.goto(`${base}/#/`);
    await cellByName(page, photoA).waitFor();
    await page.getByLabel("Sort by").selectOption("name");
    await page.locator("button.order-btn").click(); // → ascending
    await page.waitForFunction(() => {
      const names = [...document.querySelectorAll("[role=gridcell][data-id] .name")].map((e) => e.textContent.toLowerCase());
      return names.length >= 4 && names.every((n, i) => i === 0 || names[i - 1] <= n);
    });
    await page.getByLabel("Group by date taken").selectOption("month");
    await page.locator(".grid-group").first().waitFor();
    const headers = await page.$$eval(".grid-group", (els) => els.map((e) => e.textContent));
    await page.screenshot({ path: path.join(ART, "organize-08-grouped.png") });
    return { headers };
  });

  await step("filters: camera make from the facets and a date-taken range", async () => {
    await page.getByLabel("Group by date taken").selectOption("none");
    const all = await page.locator("[role=gridcell][data-id]").count();
    await page.locator("details.filters > summary").click();
    await page.waitForFunction(() => [...document.querySelectorAll("select[name=camera_make] option")].some((o) => o.value === "MediagateCam"));
    await page.locator("select[name=camera_make]").selectOption("MediagateCam");
    await page.waitForFunction((n) => {
      const cells = [...document.querySelectorAll("[role=gridcell][data-id]")];
      return cells.length === n && cells.every((c) => c.dataset.type === "image");
    }, cfg.photos.length);
    await page.locator("input[name=taken_from]").fill("2024-05-01");
    await page.locator("input[name=taken_to]").fill("2024-05-31");
    await page.waitForFunction(() => document.querySelectorAll("[role=gridcell][data-id]").length === 2);
    await page.screenshot({ path: path.join(ART, "organize-09-filters.png") });
    await page.getByRole("button", { name: "Clear filters" }).click();
    await page.waitForFunction((n) => document.querySelectorAll("[role=gridcell][data-id]").length === n, all);
    await page.keyboard.press("Escape");
    return { all };
  });

  let fileShare = null;
  await step("share one file with downloads allowed; the guest downloads the original", async () => {
    await page.goto(`${base}/#/files/${ids[photoA]}`);
    await page.locator("dialog.viewer[open]").waitFor();
    await page.locator("dialog.viewer button.share").click();
    await page.locator("dialog.share-dialog[open]").waitFor();
    await page.locator("dialog.share-dialog select[name=expiry]").selectOption("86400");
    await page.getByLabel("Allow downloading the originals").check();
    await page.locator("[data-action=create-share]").click();
    const url = await page.locator("dialog.share-dialog .share-url").first().inputValue();
    await page.keyboard.press("Escape");
    await page.locator("dialog.share-dialog").waitFor({ state: "detached" });
    assert(await page.locator("dialog.viewer[open]").count(), "the viewer stays open under the share dialog");
    await page.keyboard.press("Escape");
    const guestCtx = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
    const g = await guestCtx.newPage();
    H.page = g;
    await g.goto(url);
    await g.locator("dialog.viewer[open] .stage-image[data-loaded=full]").waitFor({ timeout: 15_000 });
    assert((await g.locator("dialog.viewer").getAttribute("data-file-id")) === ids[photoA], "the shared file opens");
    const download = g.waitForEvent("download", { timeout: 20_000 });
    await g.locator("dialog.viewer .viewer-actions .btn-secondary").click();
    const d = await download;
    const file = path.join(ART, "shared-download.bin");
    await d.saveAs(file);
    await g.screenshot({ path: path.join(ART, "organize-10-file-share.png") });
    await guestCtx.close();
    H.page = page;
    fileShare = { url, file, suggested: d.suggestedFilename() };
    return fileShare;
  });

  await step("empty the trash: a trashed file is deleted for good", async () => {
    await page.goto(`${base}/#/`);
    await cellByName(page, cfg.scratch).waitFor();
    const id = await idByName(page, cfg.scratch);
    await cellByName(page, cfg.scratch).focus();
    await page.keyboard.press("Delete");
    await page.waitForFunction((i) => !document.querySelector(`[role=gridcell][data-id="${i}"]`), id);
    await page.locator(".sidebar [data-nav=trash]").click();
    await cellByName(page, cfg.scratch).waitFor();
    await page.locator("[data-action=empty-trash]").click();
    await page.locator("dialog.confirm[open] .btn-danger").click();
    await page.getByText("The trash is empty").waitFor();
    return { id };
  });

  await step("remove a file from the album (it stays in the library)", async () => {
    await page.goto(`${base}/#/albums/${albumId}`);
    await page.waitForFunction(() => document.querySelectorAll("[role=gridcell][data-id]").length === 3, null, { timeout: 10_000 });
    await cellByName(page, cfg.video).hover();
    await cellByName(page, cfg.video).locator("[data-check]").click();
    await page.locator(".selection-bar [data-action=remove-from-album]").click();
    await page.waitForFunction(() => document.querySelectorAll("[role=gridcell][data-id]").length === 2);
    await page.locator(`.sidebar [data-album="${albumId}"]`).getByText("2").waitFor();
  });

  await step("light and dark themes follow prefers-color-scheme", async () => {
    await page.goto(`${base}/#/`);
    await cellByName(page, photoA).waitFor();
    const bg = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    await page.emulateMedia({ colorScheme: "light" });
    const light = await bg();
    await page.emulateMedia({ colorScheme: "dark" });
    const dark = await bg();
    await page.screenshot({ path: path.join(ART, "organize-11-dark.png") });
    assert(light !== dark, `backgrounds differ (${light} / ${dark})`);
    return { light, dark };
  });

  await ctx.close();
} catch {
  exitCode = 1;
} finally {
  await browser.close();
}
H.finish("organize-results.json", exitCode);
