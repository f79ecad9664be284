// Colormaps are 256 x RGBA uint8 lookup tables computed in Python from matplotlib; the front end
// only indexes them. `t` is a position in [0, 1]; NaN means "no value" (transparent).

import { fromPayload } from "./ndarray.js";

export function lutFromPayload(payload) {
  const lut = fromPayload(payload);
  if (lut.dtype !== "uint8" || lut.shape[0] !== 256 || lut.shape[1] !== 4) {
    throw new TypeError(`a colormap LUT must be uint8 of shape [256, 4], got ${lut.dtype} [${lut.shape}]`);
  }
  return lut.data;
}

export function lutIndex(t) {
  const i = Math.round(t * 255);
  return i < 0 ? 0 : i > 255 ? 255 : i;
}

/** CSS color of the LUT at position t. */
export function lutColor(lut, t) {
  const o = lutIndex(t) * 4;
  return `rgba(${lut[o]}, ${lut[o + 1]}, ${lut[o + 2]}, ${lut[o + 3] / 255})`;
}

/** Writes RGBA for every position of `t` into `out` (a Uint8ClampedArray of length 4 * t.length). */
export function applyColormap(t, lut, out = new Uint8ClampedArray(t.length * 4)) {
  for (let i = 0; i < t.length; i++) {
    const v = t[i];
    const o = i * 4;
    if (Number.isNaN(v)) {
      out[o] = out[o + 1] = out[o + 2] = out[o + 3] = 0;
      continue;
    }
    const k = lutIndex(v) * 4;
    out[o] = lut[k];
    out[o + 1] = lut[k + 1];
    out[o + 2] = lut[k + 2];
    out[o + 3] = lut[k + 3];
  }
  return out;
}
