import { describe, expect, it } from "vitest";
import { groupEntries, groupKey, groupLabel, layoutRows, moveVertical, rowAt, rowOfIndex, rowsInView, totalHeight } from "../src/groups";

describe("grouping by date taken", () => {
  it("keys by day or month, undated files in their own group", () => {
    expect(groupKey("2024-05-03T10:11:12Z", "day")).toBe("2024-05-03");
    expect(groupKey("2024-05-03 10:11:12", "month")).toBe("2024-05");
    expect(groupKey(null, "month")).toBe("none");
    expect(groupKey("garbage", "day")).toBe("none");
    expect(groupKey("2024-05-03", "none")).toBe("");
    expect(groupLabel("2024-05-03")).toBe("3 May 2024");
    expect(groupLabel("2024-12")).toBe("December 2024");
    expect(groupLabel("none")).toBe("No date taken");
  });

  it("groups consecutive runs", () => {
    const g = groupEntries(["2024-05", "2024-05", "2024-04", "none", "none"]);
    expect(g.map((x) => [x.key, x.start, x.count])).toEqual([
      ["2024-05", 0, 2],
      ["2024-04", 2, 1],
      ["none", 3, 2],
    ]);
    expect(groupEntries([])).toEqual([]);
  });
});

describe("grouped row layout", () => {
  const groups = groupEntries(["a", "a", "a", "a", "a", "b", "c", "c"]);
  const rows = layoutRows(groups, 8, 3, 100, 40);

  it("puts a header before each group and wraps tiles per group", () => {
    expect(rows.map((r) => (r.kind === "header" ? `H${r.group}` : `${r.start}-${r.end}`))).toEqual(["H0", "0-3", "3-5", "H1", "5-6", "H2", "6-8"]);
    expect(rows.map((r) => r.top)).toEqual([0, 40, 140, 240, 280, 380, 420]);
    expect(totalHeight(rows)).toBe(520);
  });

  it("without groups it is the plain grid", () => {
    const flat = layoutRows(null, 7, 3, 100, 40);
    expect(flat.map((r) => (r.kind === "tiles" ? [r.start, r.end, r.top] : null))).toEqual([
      [0, 3, 0],
      [3, 6, 100],
      [6, 7, 200],
    ]);
  });

  it("finds rows by offset and by entry", () => {
    expect(rowAt(rows, 0)).toBe(0);
    expect(rowAt(rows, 39)).toBe(0);
    expect(rowAt(rows, 40)).toBe(1);
    expect(rowAt(rows, 519)).toBe(6);
    expect(rowsInView(rows, 150, 100, 0)).toEqual({ start: 2, end: 4 });
    expect(rowsInView(rows, 150, 100, 1)).toEqual({ start: 1, end: 5 });
    expect([0, 2, 3, 4, 5, 6, 7].map((i) => rowOfIndex(rows, i))).toEqual([1, 1, 2, 2, 4, 6, 6]);
  });

  it("moves up and down by column across group headers", () => {
    expect(moveVertical(rows, 2, 1)).toBe(4); // column 2 → clamped to the shorter row
    expect(moveVertical(rows, 4, 1)).toBe(5); // next group
    expect(moveVertical(rows, 5, 1)).toBe(6);
    expect(moveVertical(rows, 7, 1)).toBe(7); // last row stays
    expect(moveVertical(rows, 6, -1)).toBe(5);
    expect(moveVertical(rows, 1, -1)).toBe(1);
  });
});
