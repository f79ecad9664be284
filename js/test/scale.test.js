import { describe, expect, it } from "vitest";
import { applyColormap, lutIndex } from "../lib/colormap.js";
import { heatmapRGBA } from "../lib/heatmap.js";
import { attributionScale, colorbarTicks, normalize, signedPart } from "../lib/scale.js";
import cases from "./display_cases.json";

// Computed by jaxviz/_display.py (tests/test_widget_base.py checks the file is current).

// A LUT whose red channel is the index and alpha is 255: colors reveal the positions.
const rampLut = new Uint8Array(1024);
for (let i = 0; i < 256; i++) rampLut.set([i, 0, 255 - i, 255], i * 4);

describe("agreement with jaxviz/_display.py", () => {
  it("has cases for every sign", () => {
    expect(new Set(cases.map((c) => c.sign))).toEqual(new Set(["all", "positive", "negative", "absolute"]));
  });

  it.each(cases.map((c) => [`${c.name} sign=${c.sign} clip=${c.clip}`, c]))("%s", (_, c) => {
    const values = Float32Array.from(c.values);
    const scale = attributionScale(values, { sign: c.sign, clip: c.clip });
    expect(scale).toBeCloseTo(c.scale, 5);
    const { t } = normalize(values, { sign: c.sign, clip: c.clip });
    const low = c.sign === "all" ? -1 : 0;
    const want = c.normalized.map((n) => (n - low) / (1 - low));
    t.forEach((v, i) => expect(v).toBeCloseTo(want[i], 5));
  });
});

describe("signedPart", () => {
  it("names the allowed signs for a bad one", () => {
    expect(() => signedPart(1, "both")).toThrow(/positive, negative, absolute, all, got both/);
  });
});

describe("scales", () => {
  it("shares one scale across maps when given several", () => {
    const a = Float32Array.of(1, 2);
    const b = Float32Array.of(8);
    expect(attributionScale([a, b], { sign: "absolute", clip: 100 })).toBe(8);
  });

  it("labels colorbar ticks in attribution units, negated for sign negative", () => {
    expect(colorbarTicks("all", 2)).toEqual([-2, 0, 2]);
    expect(colorbarTicks("negative", 2)).toEqual([0, -1, -2]);
    expect(colorbarTicks("absolute", 2)).toEqual([0, 1, 2]);
  });

  it("gives zeros for an all-zero map, at the colormap's low end or middle", () => {
    expect(Array.from(normalize(new Float32Array(2), { sign: "absolute" }).t)).toEqual([0, 0]);
    expect(Array.from(normalize(new Float32Array(2), { sign: "all" }).t)).toEqual([0.5, 0.5]);
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
    const { rgba, scale } = heatmapRGBA(Float32Array.of(-1, 0, 1), rampLut, { sign: "all", clip: 100 });
    expect(scale).toBe(1);
    expect([rgba[0], rgba[4], rgba[8]]).toEqual([0, 128, 255]);
  });
});
