/** Storyboard WebVTT (`sprite.jpg#xywh=x,y,w,h` cues) → tiles for seek-bar previews. */

export interface StoryboardTile {
  start: number;
  end: number;
  url: string; // absolute sprite URL (resolved against the VTT's URL)
  x: number;
  y: number;
  w: number;
  h: number;
}

export function parseTimestamp(ts: string): number {
  const m = ts.trim().match(/^(?:(\d+):)?(\d{1,2}):(\d{2})(?:[.,](\d{1,3}))?$/);
  if (!m) return Number.NaN;
  const [, h, mm, ss, ms] = m;
  return (Number(h ?? 0) * 3600 + Number(mm) * 60 + Number(ss)) + (ms ? Number(ms.padEnd(3, "0")) / 1000 : 0);
}

export function parseStoryboard(vtt: string, baseUrl: string): StoryboardTile[] {
  const tiles: StoryboardTile[] = [];
  const lines = vtt.replace(/\r\n?/g, "\n").split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (!line.includes("-->")) continue;
    const [a, b] = line.split("-->");
    const start = parseTimestamp(a);
    const end = parseTimestamp(b.trim().split(/\s+/)[0]);
    const target = (lines[i + 1] ?? "").trim();
    const hash = target.match(/^(.*)#xywh=(\d+),(\d+),(\d+),(\d+)$/);
    if (!hash || Number.isNaN(start) || Number.isNaN(end)) continue;
    let url: string;
    try {
      url = new URL(hash[1], baseUrl).toString();
    } catch {
      continue;
    }
    tiles.push({ start, end, url, x: +hash[2], y: +hash[3], w: +hash[4], h: +hash[5] });
  }
  return tiles.sort((p, q) => p.start - q.start);
}

/** The tile showing time `t` (the last cue starting at or before `t`). */
export function tileAt(tiles: readonly StoryboardTile[], t: number): StoryboardTile | null {
  if (!tiles.length) return null;
  let lo = 0;
  let hi = tiles.length - 1;
  if (t <= tiles[0].start) return tiles[0];
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (tiles[mid].start <= t) lo = mid;
    else hi = mid - 1;
  }
  return tiles[lo];
}

/** The storyboard VTT's URL among a preview's variants (`storyboard/storyboard.vtt`). */
export function storyboardUrl(variants: Record<string, string>): string | null {
  const key = Object.keys(variants).find((k) => k.endsWith(".vtt"));
  return key ? variants[key] : null;
}
