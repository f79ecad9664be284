import { describe, expect, it } from "vitest";
import { headLayout, keyLines, queryLines, LABELED_UP_TO } from "../widgets/attention.js";
import { unitsByTime } from "../widgets/rnn.js";
import { layoutTokens } from "../widgets/tokens.js";

const f32 = (values, shape) => ({ data: Float32Array.from(values), shape, dtype: "float32" });

describe("attention lines", () => {
  // one head, 3 tokens; row q is query q's weights over the keys
  const row = { maps: f32([1, 0, 0, 0.25, 0.75, 0, 0.1, 0.6, 0.3], [1, 3, 3]) };

  it("a query's lines are its keys, strongest first, tiny weights left out", () => {
    expect(queryLines(row, 0, 1)).toEqual([{ key: 1, weight: 0.75 }, { key: 0, weight: 0.25 }]);
    expect(queryLines(row, 0, 2).map((l) => l.key)).toEqual([1, 2, 0]);
    expect(queryLines(row, 0, 1, { floor: 0.5 })).toEqual([{ key: 1, weight: 0.75 }]);
  });

  it("a key's lines are the queries attending to it (the map's column)", () => {
    const lines = keyLines(row, 0, 1);
    expect(lines.map((l) => l.query)).toEqual([1, 2]);
    expect(lines[1].weight).toBeCloseTo(0.6);
  });

  it("long inputs read the top-k keys sent by the kernel", () => {
    const long = { top_index: f32([5, 2, 7, 1], [1, 2, 2]), top_weight: f32([0.5, 0.2, 0.9, 0.05], [1, 2, 2]) };
    expect(queryLines(long, 0, 1)).toEqual([{ key: 7, weight: Math.fround(0.9) }, { key: 1, weight: Math.fround(0.05) }]);
    expect(keyLines(long, 0, 1)).toEqual([]);
  });

  it("labels every token up to the limit, then compresses positions into a fixed height", () => {
    const short = headLayout(10);
    expect(short.labeled).toBe(true);
    expect(short.step).toBe(18);
    const long = headLayout(2048);
    expect(long.labeled).toBe(false);
    expect(long.step * 2048 + 8).toBeCloseTo(long.height);
    expect(headLayout(LABELED_UP_TO + 1).labeled).toBe(false);
  });
});

describe("token and state layouts", () => {
  it("tokens wrap to a new line when the next box would overflow", () => {
    const { boxes, height } = layoutTokens([40, 40, 40], 90, { gap: 4, line: 24 });
    expect(boxes).toEqual([{ x: 0, y: 0, w: 40 }, { x: 44, y: 0, w: 40 }, { x: 0, y: 24, w: 40 }]);
    expect(height).toBe(48);
  });

  it("states (time, units) become a units x time map", () => {
    const map = unitsByTime(f32([1, 2, 3, 4, 5, 6], [3, 2]));
    expect(map.shape).toEqual([2, 3]);
    expect(Array.from(map.data)).toEqual([1, 3, 5, 2, 4, 6]);
    const cut = unitsByTime(f32([1, 2, 3, 4, 5, 6], [3, 2]), 2); // padding steps left out
    expect(cut.shape).toEqual([2, 2]);
    expect(Array.from(cut.data)).toEqual([1, 3, 2, 4]);
  });
});
