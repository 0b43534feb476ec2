/** Grid geometry for the virtualised library: columns, row height, visible rows. Pure. */

export interface GridMetrics {
  columns: number;
  cardWidth: number;
  rowHeight: number; // including the gap below
  gap: number;
}

export interface LayoutOptions {
  minCard: number; // smallest card width in px
  gap: number;
  infoHeight: number; // caption under the thumbnail
  aspect: number; // thumbnail width / height
}

export const DEFAULT_LAYOUT: LayoutOptions = { minCard: 210, gap: 16, infoHeight: 54, aspect: 4 / 3 };
export const COMPACT_LAYOUT: LayoutOptions = { minCard: 150, gap: 8, infoHeight: 46, aspect: 1 };

export function computeMetrics(width: number, opts: LayoutOptions = DEFAULT_LAYOUT): GridMetrics {
  const usable = Math.max(0, width);
  const columns = Math.max(1, Math.floor((usable + opts.gap) / (opts.minCard + opts.gap)));
  const cardWidth = Math.max(1, (usable - opts.gap * (columns - 1)) / columns);
  const rowHeight = Math.round(cardWidth / opts.aspect + opts.infoHeight + opts.gap);
  return { columns, cardWidth, rowHeight, gap: opts.gap };
}

export function rowCount(items: number, columns: number): number {
  return Math.ceil(items / Math.max(1, columns));
}

/** Rows [start, end) to render for a scroll position, with `overscan` extra rows each side. */
export function visibleRows(
  scrollTop: number,
  viewport: number,
  rowHeight: number,
  rows: number,
  overscan = 2,
): { start: number; end: number } {
  if (rows <= 0 || rowHeight <= 0) return { start: 0, end: 0 };
  const first = Math.floor(Math.max(0, scrollTop) / rowHeight);
  const last = Math.ceil((Math.max(0, scrollTop) + viewport) / rowHeight);
  return { start: Math.max(0, first - overscan), end: Math.min(rows, last + overscan) };
}

/** Index after a keyboard move in a grid of `count` items with `columns` per row. */
export function moveIndex(
  index: number,
  key: string,
  count: number,
  columns: number,
  pageRows: number,
  ctrl = false,
): number {
  if (count <= 0) return -1;
  const last = count - 1;
  const clamp = (i: number) => Math.max(0, Math.min(last, i));
  switch (key) {
    case "ArrowRight":
      return clamp(index + 1);
    case "ArrowLeft":
      return clamp(index - 1);
    case "ArrowDown":
      return index + columns <= last ? index + columns : index;
    case "ArrowUp":
      return index - columns >= 0 ? index - columns : index;
    case "Home":
      return ctrl ? 0 : index - (index % columns);
    case "End":
      return ctrl ? last : clamp(index - (index % columns) + columns - 1);
    case "PageDown":
      return clamp(index + columns * Math.max(1, pageRows));
    case "PageUp": {
      const up = index - columns * Math.max(1, pageRows);
      return up < 0 ? index % columns : up;
    }
    default:
      return index;
  }
}
