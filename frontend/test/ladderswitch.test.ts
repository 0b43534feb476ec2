import { describe, expect, it } from "vitest";
import { planTransfer } from "../src/ladderswitch";

describe("planTransfer: the growing rung's buffer when the ladder takes the MediaSource over", () => {
  it("drops what lies beyond margin + one ladder segment, cutting mid-second", () => {
    expect(planTransfer(10, 1, 58, 60)).toEqual({ kind: "trim", from: 21.5 }); // 10 + 3 + 8
    expect(planTransfer(10.7, 1, 58, 60)).toEqual({ kind: "trim", from: 21.5 });
    // the margin is wall time: at a quarter speed it covers a quarter of the media
    expect(planTransfer(10, 0.25, 58, 60)).toEqual({ kind: "trim", from: 18.5 });
  });

  it("lets the old rung play out when the rest is buffered and within reach", () => {
    expect(planTransfer(50, 1, 60, 60)).toEqual({ kind: "defer" });
    expect(planTransfer(19, 1, 29.98, 30)).toEqual({ kind: "defer" });
  });

  it("leaves a short buffer that does not reach the end: the new instance loads on from its end", () => {
    expect(planTransfer(10, 1, 20, 60)).toEqual({ kind: "as-is" });
    expect(planTransfer(10, 1, null, 60)).toEqual({ kind: "as-is" });
  });
});
