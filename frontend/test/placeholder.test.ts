import { rgbaToThumbHash } from "thumbhash";
import { describe, expect, it } from "vitest";
import { decodeBase64, placeholderAspect, placeholderColor, placeholderUrl } from "../src/placeholder";

function hashOf(w: number, h: number, rgb: [number, number, number]): string {
  const px = new Uint8Array(w * h * 4);
  for (let i = 0; i < w * h; i++) px.set([...rgb, 255], i * 4);
  const bytes = rgbaToThumbHash(w, h, px);
  return btoa(String.fromCharCode(...bytes));
}

describe("thumbhash placeholders", () => {
  it("decodes a base64 thumbhash to a PNG data URL, its colour and aspect", () => {
    const hash = hashOf(40, 20, [200, 40, 40]);
    expect(decodeBase64(hash).length).toBeGreaterThan(4);
    expect(placeholderUrl(hash)).toMatch(/^data:image\/png;base64,/);
    expect(placeholderUrl(hash)).toBe(placeholderUrl(hash)); // cached
    expect(placeholderColor(hash)).toMatch(/^rgb\(\d+ \d+ \d+\)$/);
    expect(placeholderAspect(hash)).toBeGreaterThan(1.5);
  });

  it("returns null for missing or broken hashes", () => {
    expect(placeholderUrl(null)).toBeNull();
    expect(placeholderUrl("!!!")).toBeNull();
  });
});
