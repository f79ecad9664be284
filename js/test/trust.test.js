import { describe, expect, it } from "vitest";
import { compareWithBaseline, sortedRows, verdictClass } from "../lib/trust.js";

const cells = [[{ score: 0.5 }], [{ score: 0.2 }], [{ score: 0.9 }], [{ score: 0.2 }]];

describe("scorecard sorting", () => {
  it("puts the best first for either direction, ties in their own order", () => {
    expect(sortedRows(cells, 0, true)).toEqual([2, 0, 1, 3]);
    expect(sortedRows(cells, 0, false)).toEqual([1, 3, 0, 2]);
  });
  it("keeps the methods' order without a sort column", () => {
    expect(sortedRows(cells, -1, true)).toEqual([0, 1, 2, 3]);
  });
});

describe("verdicts", () => {
  it("names the cell classes", () => {
    expect([1, 0, -1].map(verdictClass)).toEqual(["better", "neutral", "worse"]);
  });
  it("compares one example's score with its random baseline in the metric's direction", () => {
    expect(compareWithBaseline(0.3, 0.6, false)).toBe(1); // deletion: lower is better
    expect(compareWithBaseline(0.3, 0.6, true)).toBe(-1);
    expect(compareWithBaseline(0.3, 0.3, true)).toBe(0);
    expect(compareWithBaseline(0.3, null, true)).toBe(0);
  });
});
