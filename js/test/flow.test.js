import { describe, expect, it } from "vitest";
import { axisMap, extent, logTicks, niceTicks } from "../lib/chart.js";
import { nearestIndex, resampleColumns, signedLogTicks, unitScale, smooth } from "../lib/flow.js";

describe("chart ticks and axes", () => {
  it("puts round ticks on 1-2-5 steps", () => {
    expect(niceTicks(0, 10, 5)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(niceTicks(-0.3, 0.31, 3)).toEqual([-0.2, 0, 0.2]);
  });
  it("puts log ticks on powers of ten, thinned", () => {
    expect(logTicks(1e-3, 10)).toEqual([1e-3, 1e-2, 1e-1, 1, 10]);
    expect(logTicks(1e-12, 1, 4)).toEqual([1e-12, 1e-8, 1e-4, 1]);
  });
  it("finds the finite extent, positive only on log axes", () => {
    expect(extent([[1, NaN, -2], [5, Infinity]])).toEqual([-2, 5]);
    expect(extent([[0, -1, 1e-3, 100]], true)).toEqual([1e-3, 100]);
  });
  it("maps values to pixels linearly or logarithmically", () => {
    expect(axisMap(0, 10, 100, 200)(5)).toBe(150);
    expect(axisMap(1e-4, 1, 0, 40, true)(1e-2)).toBeCloseTo(20, 9);
  });
});

describe("flow helpers", () => {
  it("resamples thinned history by true step distance", () => {
    // steps 0, 4 (thinned) then 5, 6, 7: the first column block belongs to step 0 and 4
    const steps = [0, 4, 5, 6, 7];
    const values = [10, 14, 15, 16, 17]; // one row
    const out = Array.from(resampleColumns(values, 1, steps, 8));
    expect(out).toEqual([10, 10, 10, 14, 14, 15, 16, 17]);
  });
  it("scales to [0, 1] keeping NaN", () => {
    const { t, lo, hi } = unitScale([2, NaN, 4, 3]);
    expect([lo, hi]).toEqual([2, 4]);
    expect(Array.from(t)).toEqual([0, NaN, 1, 0.5]);
  });
  it("places signed log ticks at the documented bin edges", () => {
    // jaxviz.flow: bins of 1/3 decade from 1e-8 to 1e2 on each side, zero bin in the middle
    const { bins, ticks } = signedLogTicks({ min_exp: -8, max_exp: 2, bins_per_decade: 3 }, [0]);
    expect(bins).toBe(61);
    expect(ticks).toEqual([
      { value: 30 - 24, label: "-1" },
      { value: 30.5, label: "0" },
      { value: 31 + 24, label: "1" },
    ]);
  });
  it("finds the nearest step", () => {
    expect(nearestIndex([0, 10, 20], 14)).toBe(1);
    expect(nearestIndex([0, 10, 20], 16)).toBe(2);
  });
});

describe("smooth", () => {
  it("is TensorBoard's debiased moving average (the numbers of tests/test_training.py)", () => {
    const w = 0.5;
    const l1 = 0.5 * 1;
    const l2 = 0.5 * l1 + 0.5 * 3;
    const l3 = 0.5 * l2 + 0.5 * 2;
    const l4 = 0.5 * l3 + 0.5 * 6;
    const got = smooth([1, 3, NaN, 2, 6], w);
    const want = [l1 / 0.5, l2 / 0.75, NaN, l3 / 0.875, l4 / 0.9375];
    want.forEach((v, i) => (Number.isNaN(v) ? expect(got[i]).toBeNaN() : expect(got[i]).toBeCloseTo(v, 12)));
    expect(Array.from(smooth([7, 7, 7], 0.9))).toEqual([7, 7, 7]);
    expect(Array.from(smooth([1, 2], 0))).toEqual([1, 2]);
  });
});
