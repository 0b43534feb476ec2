// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { findInterrupted } from "../src/resume";

describe("interrupted uploads", () => {
  it("finds this user's tus records for this endpoint", () => {
    localStorage.clear();
    const endpoint = "http://127.0.0.1:8787/api/upload";
    localStorage.setItem(
      `tus::tus-mgabc-clip.mov-video/quicktime-1000-17-${endpoint}::0.123`,
      JSON.stringify({ size: 1000, metadata: { filename: "clip.mov", filetype: "video/quicktime" }, creationTime: "2025-01-01", uploadUrl: `${endpoint}/u1` }),
    );
    localStorage.setItem(`tus::tus-mgother-x-${endpoint}::1`, JSON.stringify({ size: 1, metadata: {}, uploadUrl: `${endpoint}/u2` }));
    localStorage.setItem("unrelated", "{}");
    const found = findInterrupted(localStorage, "mgabc", endpoint);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ name: "clip.mov", size: 1000, uploadUrl: `${endpoint}/u1` });
  });
});
