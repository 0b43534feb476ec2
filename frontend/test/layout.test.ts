import { describe, expect, it } from "vitest";
import { computeMetrics, DEFAULT_LAYOUT, moveIndex, rowCount, visibleRows } from "../src/layout";

describe("grid layout", () => {
  it("fits as many columns as the minimum card width allows", () => {
    const m = computeMetrics(1200, DEFAULT_LAYOUT);
    expect(m.columns).toBe(5); // (1200+16)/(210+16) = 5.38
    expect(m.cardWidth).toBeCloseTo((1200 - 4 * 16) / 5);
    expect(m.rowHeight).toBe(Math.round(m.cardWidth / DEFAULT_LAYOUT.aspect + DEFAULT_LAYOUT.infoHeight + 16));
    expect(computeMetrics(100).columns).toBe(1);
  });

  it("renders only the rows in view plus overscan", () => {
    expect(visibleRows(0, 800, 200, 10_000, 2)).toEqual({ start: 0, end: 6 });
    expect(visibleRows(200_000, 800, 200, 10_000, 2)).toEqual({ start: 998, end: 1006 });
    expect(visibleRows(0, 800, 200, 3, 2)).toEqual({ start: 0, end: 3 });
    expect(rowCount(10_001, 5)).toBe(2001);
  });

  it("moves through the grid with the keyboard", () => {
    // 10 items, 4 columns: rows [0..3] [4..7] [8,9]
    expect(moveIndex(0, "ArrowRight", 10, 4, 2)).toBe(1);
    expect(moveIndex(0, "ArrowLeft", 10, 4, 2)).toBe(0);
    expect(moveIndex(1, "ArrowDown", 10, 4, 2)).toBe(5);
    expect(moveIndex(7, "ArrowDown", 10, 4, 2)).toBe(7); // nothing below
    expect(moveIndex(5, "ArrowUp", 10, 4, 2)).toBe(1);
    expect(moveIndex(6, "Home", 10, 4, 2)).toBe(4);
    expect(moveIndex(5, "End", 10, 4, 2)).toBe(7);
    expect(moveIndex(9, "End", 10, 4, 2)).toBe(9);
    expect(moveIndex(5, "Home", 10, 4, 2, true)).toBe(0);
    expect(moveIndex(1, "End", 10, 4, 2, true)).toBe(9);
    expect(moveIndex(1, "PageDown", 10, 4, 2)).toBe(9);
    expect(moveIndex(9, "PageUp", 10, 4, 2)).toBe(1);
  });
});
