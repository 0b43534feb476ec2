import { describe, expect, it } from "vitest";
import { Selection } from "../src/selection";

const order = ["a", "b", "c", "d", "e", "f"];

describe("Selection", () => {
  it("click selects one, ctrl-click toggles", () => {
    const s = new Selection();
    s.click(order, "b", {});
    expect(s.ids()).toEqual(["b"]);
    s.click(order, "d", { toggle: true });
    expect(s.ordered(order)).toEqual(["b", "d"]);
    s.click(order, "b", { toggle: true });
    expect(s.ordered(order)).toEqual(["d"]);
    s.click(order, "a", {});
    expect(s.ids()).toEqual(["a"]);
  });

  it("shift-click selects the range from the anchor, either direction", () => {
    const s = new Selection();
    s.click(order, "b", {});
    s.click(order, "e", { shift: true });
    expect(s.ordered(order)).toEqual(["b", "c", "d", "e"]);
    s.click(order, "a", { shift: true }); // anchor stays at b
    expect(s.ordered(order)).toEqual(["a", "b"]);
  });

  it("ctrl+shift adds a range to the selection", () => {
    const s = new Selection();
    s.click(order, "a", {});
    s.click(order, "d", { toggle: true });
    s.click(order, "f", { shift: true, toggle: true });
    expect(s.ordered(order)).toEqual(["a", "d", "e", "f"]);
  });

  it("select all, retain, remove, clear and change events", () => {
    const s = new Selection();
    let events = 0;
    s.onChange(() => events++);
    s.selectAll(order);
    expect(s.size).toBe(6);
    s.retain(new Set(["a", "c", "z"]));
    expect(s.ordered(order)).toEqual(["a", "c"]);
    s.remove(["a"]);
    expect(s.ids()).toEqual(["c"]);
    s.clear();
    expect(s.size).toBe(0);
    expect(events).toBe(4);
  });
});
