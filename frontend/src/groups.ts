/**
 * Grouping the grid by day or month of date taken, and the row layout that goes with it:
 * a header row before each group, then rows of up to `columns` tiles. Pure (unit-tested);
 * grid.ts virtualises over these rows, whose heights differ (headers are short).
 */

import type { Grouping } from "./listing";

export interface Group {
  key: string;
  label: string;
  start: number; // first entry index
  count: number;
}

export type LayoutRow =
  | { kind: "header"; group: number; top: number; height: number }
  | { kind: "tiles"; group: number; start: number; end: number; top: number; height: number };

const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

/** "2024-05-03" / "2024-05" / "" (no date) for an ISO timestamp. */
export function groupKey(takenAt: string | null | undefined, grouping: Grouping): string {
  if (grouping === "none") return "";
  if (!takenAt || !/^\d{4}-\d{2}-\d{2}/.test(takenAt)) return "none";
  return grouping === "day" ? takenAt.slice(0, 10) : takenAt.slice(0, 7);
}

export function groupLabel(key: string): string {
  if (key === "none") return "No date taken";
  const [y, m, d] = key.split("-").map(Number);
  if (!y || !m) return key;
  return d ? `${d} ${MONTHS[m - 1]} ${y}` : `${MONTHS[m - 1]} ${y}`;
}

/** Consecutive runs of equal keys (the list is already sorted by date taken). */
export function groupEntries(keys: readonly string[]): Group[] {
  const out: Group[] = [];
  keys.forEach((key, i) => {
    const last = out[out.length - 1];
    if (last && last.key === key) last.count++;
    else out.push({ key, label: groupLabel(key), start: i, count: 1 });
  });
  return out;
}

/**
 * Rows for `groups` (or one headerless group of `total` entries when `groups` is null), with
 * their pixel offsets. Tile rows are `rowHeight` tall, header rows `headerHeight`.
 */
export function layoutRows(groups: Group[] | null, total: number, columns: number, rowHeight: number, headerHeight: number): LayoutRow[] {
  const rows: LayoutRow[] = [];
  let top = 0;
  const cols = Math.max(1, columns);
  const list = groups ?? [{ key: "", label: "", start: 0, count: total }];
  list.forEach((g, gi) => {
    if (groups) {
      rows.push({ kind: "header", group: gi, top, height: headerHeight });
      top += headerHeight;
    }
    for (let i = g.start; i < g.start + g.count; i += cols) {
      rows.push({ kind: "tiles", group: gi, start: i, end: Math.min(i + cols, g.start + g.count), top, height: rowHeight });
      top += rowHeight;
    }
  });
  return rows;
}

export function totalHeight(rows: readonly LayoutRow[]): number {
  const last = rows[rows.length - 1];
  return last ? last.top + last.height : 0;
}

/** Index of the first row whose bottom is below `y` (binary search over sorted tops). */
export function rowAt(rows: readonly LayoutRow[], y: number): number {
  let lo = 0;
  let hi = rows.length - 1;
  if (hi < 0) return -1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (rows[mid].top + rows[mid].height <= y) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Rows [start, end) overlapping the viewport, with `overscan` extra rows each side. */
export function rowsInView(rows: readonly LayoutRow[], scrollTop: number, viewport: number, overscan = 2): { start: number; end: number } {
  if (!rows.length) return { start: 0, end: 0 };
  const first = rowAt(rows, Math.max(0, scrollTop));
  const last = rowAt(rows, Math.max(0, scrollTop) + viewport);
  return { start: Math.max(0, first - overscan), end: Math.min(rows.length, last + 1 + overscan) };
}

/** The tile row holding entry `index`. */
export function rowOfIndex(rows: readonly LayoutRow[], index: number): number {
  let lo = 0;
  let hi = rows.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const r = rows[mid];
    if (r.kind === "header") {
      // headers sit before the group's first tile row
      const next = rows[mid + 1];
      if (next && next.kind === "tiles" && index >= next.start) lo = mid + 1;
      else hi = mid - 1;
    } else if (index < r.start) hi = mid - 1;
    else if (index >= r.end) lo = mid + 1;
    else return mid;
  }
  return -1;
}

/** ArrowUp/ArrowDown over grouped rows: the same column in the previous/next tile row. */
export function moveVertical(rows: readonly LayoutRow[], index: number, delta: 1 | -1): number {
  const r = rowOfIndex(rows, index);
  if (r < 0) return index;
  const cur = rows[r] as Extract<LayoutRow, { kind: "tiles" }>;
  const col = index - cur.start;
  for (let k = r + delta; k >= 0 && k < rows.length; k += delta) {
    const row = rows[k];
    if (row.kind === "tiles") return Math.min(row.start + col, row.end - 1);
  }
  return index;
}
