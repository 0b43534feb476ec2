import { describe, expect, it } from "vitest";
import { extensionLabel, formatBytes, formatDuration, formatRelative, parseServerDate, pluralize } from "../src/format";

describe("format", () => {
  it("formats sizes in SI units", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(999)).toBe("999 B");
    expect(formatBytes(1500)).toBe("1.5 KB");
    expect(formatBytes(200_009)).toBe("200 KB");
    expect(formatBytes(100_000_000)).toBe("100 MB");
    expect(formatBytes(10_000)).toBe("10 KB");
    expect(formatBytes(52_428_800)).toBe("52.4 MB");
    expect(formatBytes(5_000_000_000)).toBe("5 GB");
    expect(formatBytes(null)).toBe("—");
  });

  it("formats durations", () => {
    expect(formatDuration(0)).toBe("0:00");
    expect(formatDuration(9.9)).toBe("0:09");
    expect(formatDuration(65)).toBe("1:05");
    expect(formatDuration(3725)).toBe("1:02:05");
    expect(formatDuration(Number.NaN)).toBe("0:00");
  });

  it("reads server timestamps as UTC", () => {
    expect(parseServerDate("2025-01-02 03:04:05.678")?.toISOString()).toBe("2025-01-02T03:04:05.678Z");
    expect(parseServerDate("2025-01-02T03:04:05+02:00")?.toISOString()).toBe("2025-01-02T01:04:05.000Z");
    expect(parseServerDate("nope")).toBeNull();
  });

  it("says how long ago", () => {
    const now = new Date("2025-01-02T12:00:00Z");
    expect(formatRelative(new Date("2025-01-02T11:59:40Z"), now)).toBe("just now");
    expect(formatRelative(new Date("2025-01-02T11:30:00Z"), now)).toBe("30 min ago");
    expect(formatRelative(new Date("2025-01-02T09:00:00Z"), now)).toBe("3 h ago");
  });

  it("labels extensions and plurals", () => {
    expect(extensionLabel("report.final.PDF")).toBe("PDF");
    expect(extensionLabel("README")).toBe("FILE");
    expect(pluralize(1, "file")).toBe("1 file");
    expect(pluralize(12000, "file")).toBe("12,000 files");
  });
});
