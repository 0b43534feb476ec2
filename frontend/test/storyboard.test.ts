import { describe, expect, it } from "vitest";
import { parseStoryboard, parseTimestamp, storyboardUrl, tileAt } from "../src/storyboard";

const VTT = `WEBVTT

00:00:00.000 --> 00:00:02.000
sprite.jpg#xywh=0,0,160,90

00:00:02.000 --> 00:00:04.000
sprite.jpg#xywh=160,0,160,90

00:00:04.000 --> 00:00:05.500
sprite.jpg#xywh=320,0,160,90
`;

describe("storyboard", () => {
  it("parses timestamps", () => {
    expect(parseTimestamp("00:01:02.500")).toBe(62.5);
    expect(parseTimestamp("01:02.5")).toBe(62.5);
    expect(parseTimestamp("1:00:00.000")).toBe(3600);
    expect(Number.isNaN(parseTimestamp("x"))).toBe(true);
  });

  it("resolves sprite URLs against the signed VTT URL and finds tiles by time", () => {
    const base = "http://h/api/objects/TOKEN/storyboard/storyboard.vtt";
    const tiles = parseStoryboard(VTT, base);
    expect(tiles).toHaveLength(3);
    expect(tiles[1]).toMatchObject({ start: 2, end: 4, x: 160, y: 0, w: 160, h: 90, url: "http://h/api/objects/TOKEN/storyboard/sprite.jpg" });
    expect(tileAt(tiles, 0)?.x).toBe(0);
    expect(tileAt(tiles, 3.9)?.x).toBe(160);
    expect(tileAt(tiles, 99)?.x).toBe(320);
    expect(tileAt([], 1)).toBeNull();
  });

  it("finds the VTT among preview variants", () => {
    expect(storyboardUrl({ "poster.jpg": "p", "storyboard/storyboard.vtt": "v", "storyboard/sprite.jpg": "s" })).toBe("v");
    expect(storyboardUrl({})).toBeNull();
  });
});
