import { describe, expect, it } from "vitest";
import { fromPayload, take } from "../lib/ndarray.js";

function payload(values, dtype, shape, offset = 0) {
  const Typed = dtype === "float32" ? Float32Array : Uint8Array;
  const bytes = new Uint8Array(offset + values.length * Typed.BYTES_PER_ELEMENT);
  new Uint8Array(Typed.from(values).buffer).forEach((b, i) => (bytes[offset + i] = b));
  return { buffer: new DataView(bytes.buffer, offset), dtype, shape };
}

describe("fromPayload", () => {
  it("rebuilds float32 values and shape from a DataView", () => {
    const a = fromPayload(payload([1.5, -2, 3, 4.25], "float32", [2, 2]));
    expect(Array.from(a.data)).toEqual([1.5, -2, 3, 4.25]);
    expect(a.shape).toEqual([2, 2]);
  });

  it("copies a float32 buffer that starts at an unaligned offset", () => {
    const a = fromPayload(payload([0.5, 7], "float32", [2], 1));
    expect(Array.from(a.data)).toEqual([0.5, 7]);
  });

  it("rejects a byte length that does not match the shape", () => {
    expect(() => fromPayload(payload([1, 2, 3], "float32", [2, 2]))).toThrow(/needs 16/);
  });

  it("rejects an unknown dtype", () => {
    expect(() => fromPayload({ buffer: new ArrayBuffer(4), dtype: "float64", shape: [1] })).toThrow(/float64/);
  });
});

describe("take", () => {
  it("returns the row at an index of the first axis as a view", () => {
    const a = fromPayload(payload([0, 1, 2, 3, 4, 5], "uint8", [3, 2]));
    const row = take(a, 2);
    expect(Array.from(row.data)).toEqual([4, 5]);
    expect(row.shape).toEqual([2]);
    expect(row.data.buffer).toBe(a.data.buffer);
  });

  it("rejects an index outside the axis", () => {
    const a = fromPayload(payload([0, 1], "uint8", [2]));
    expect(() => take(a, 2)).toThrow(RangeError);
  });
});
