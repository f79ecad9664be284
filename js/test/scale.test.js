import { describe, expect, it } from "vitest";
import { applyColormap, lutIndex } from "../lib/colormap.js";
import { heatmapRGBA } from "../lib/heatmap.js";
import { normalize, percentileAbs, scaleLimit, signFilter } from "../lib/scale.js";

// A LUT whose red channel is the index and alpha is 255: colors reveal the positions.
const rampLut = new Uint8Array(1024);
for (let i = 0; i < 256; i++) rampLut.set([i, 0, 255 - i, 255], i * 4);

describe("signFilter", () => {
  it.each([
    ["all", -2, -2],
    ["positive", -2, 0],
    ["positive", 3, 3],
    ["negative", 3, 0],
    ["negative", -3, -3],
    ["absolute", -3, 3],
  ])("%s of %d is %d", (sign, v, want) => expect(signFilter(v, sign)).toBe(want));

  it("names the allowed signs for a bad one", () => {
    expect(() => signFilter(1, "both")).toThrow(/all, positive, negative, absolute; got both/);
  });
});

describe("percentileAbs", () => {
  it("matches numpy.percentile's linear interpolation", () => {
    // numpy.percentile([1, 2, 3, 4], 90) == 3.7
    expect(percentileAbs([-1, 2, -3, 4], 90)).toBeCloseTo(3.7, 6);
    expect(percentileAbs([5, -9, 1], 100)).toBe(9);
    expect(percentileAbs([5, -9, 1], 0)).toBe(1);
  });
});

describe("normalize", () => {
  it("centres zero in a diverging scale and maps +-limit to the ends", () => {
    const { t, limit } = normalize(Float32Array.of(-4, 0, 2, 4), { sign: "all" });
    expect(limit).toBe(4);
    expect(Array.from(t)).toEqual([0, 0.5, 0.75, 1]);
  });

  it("clips outliers at the percentile limit", () => {
    const values = Float32Array.from({ length: 101 }, (_, i) => i); // 0..100
    const { t, limit } = normalize(values, { sign: "all", clip: 50 });
    expect(limit).toBe(50);
    expect(t[100]).toBe(1); // 100 is beyond the limit: clipped to the end
    expect(t[25]).toBeCloseTo(0.75, 6);
  });

  it("maps the magnitude to [0, 1] for a filtered sign on a sequential colormap", () => {
    const { t } = normalize(Float32Array.of(-4, -2, 1), { sign: "negative", diverging: false });
    expect(Array.from(t)).toEqual([1, 0.5, 0]);
  });

  it("keeps a filtered sign on the matching half of a diverging colormap", () => {
    const { t } = normalize(Float32Array.of(-4, 2, 4), { sign: "positive", diverging: true });
    expect(Array.from(t)).toEqual([0.5, 0.75, 1]);
  });

  it("does not divide by zero for an all-zero map", () => {
    const { t, limit } = normalize(new Float32Array(3), { sign: "all" });
    expect(limit).toBe(0);
    expect(Array.from(t)).toEqual([0.5, 0.5, 0.5]);
  });

  it("uses a given limit (a scale shared across maps)", () => {
    const { t } = normalize(Float32Array.of(1), { limit: 2 });
    expect(t[0]).toBe(0.75);
    expect(scaleLimit(Float32Array.of(1, -3), { sign: "positive" })).toBe(1);
  });
});

describe("colormap", () => {
  it("indexes the LUT at round(t * 255) and clamps", () => {
    expect([lutIndex(0), lutIndex(0.5), lutIndex(1), lutIndex(-1), lutIndex(2)]).toEqual([0, 128, 255, 0, 255]);
  });

  it("writes RGBA from the LUT and leaves NaN transparent", () => {
    const out = applyColormap(Float32Array.of(0, 1, NaN), rampLut);
    expect(Array.from(out)).toEqual([0, 0, 255, 255, 255, 0, 0, 255, 0, 0, 0, 0]);
  });

  it("heatmapRGBA colors the largest value with the LUT's last entry", () => {
    const { rgba, limit } = heatmapRGBA(Float32Array.of(-1, 0, 1), rampLut, { sign: "all" });
    expect(limit).toBe(1);
    expect([rgba[0], rgba[4], rgba[8]]).toEqual([0, 128, 255]);
  });
});
