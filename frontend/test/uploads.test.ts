// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { findInterrupted } from "../src/resume";
import { uploadedFileId } from "../src/uploads";

describe("the upload's last answer", () => {
  it("names the new file (Mediagate-File-Id), or nothing", () => {
    const id = "0b9f4c1e-8a1f-4e5b-9f3a-2c7d9e1b4a60";
    const answer = (h: string | null) => ({ body: { xhr: { getResponseHeader: (n: string) => (n === "Mediagate-File-Id" ? h : null) } } });
    expect(uploadedFileId(answer(id))).toBe(id);
    expect(uploadedFileId(answer(null))).toBeNull();
    expect(uploadedFileId(answer("../x"))).toBeNull();
    expect(uploadedFileId(undefined)).toBeNull();
  });
});

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
