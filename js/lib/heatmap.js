// The one heatmap component: a float32 map drawn through a colormap LUT, optionally blended over
// an RGBA image. Pure pixel work lives in heatmapRGBA (unit-tested); the canvas part only scales
// and composites.

import { applyColormap } from "./colormap.js";
import { DEFAULT_CLIP, normalize } from "./scale.js";

/** RGBA pixels of `values` (length h * w) through `lut`, and the scale used. */
export function heatmapRGBA(values, lut, { sign = "absolute", clip = DEFAULT_CLIP, scale } = {}) {
  const { t, scale: used } = normalize(values, { sign, clip, scale });
  return { rgba: applyColormap(t, lut), scale: used };
}

function pixelCanvas(rgba, width, height) {
  const c = document.createElement("canvas");
  c.width = width;
  c.height = height;
  c.getContext("2d").putImageData(new ImageData(rgba, width, height), 0, 0);
  return c;
}

/** RGBA uint8 [h, w, 4] image as an offscreen canvas. */
export function imageCanvas(image) {
  const [h, w] = image.shape;
  const rgba = new Uint8ClampedArray(image.data.buffer, image.data.byteOffset, h * w * 4);
  return pixelCanvas(rgba, w, h);
}

/** Integer-upscaled display size whose longest side is about `target` pixels. */
export function displaySize(h, w, target) {
  const factor = Math.max(1, Math.floor(target / Math.max(h, w)));
  const scaled = factor * Math.max(h, w) >= target / 2 ? factor : target / Math.max(h, w);
  return { width: Math.round(w * scaled), height: Math.round(h * scaled) };
}

export function createHeatmap({ role, size = 224, label = "" }) {
  const canvas = document.createElement("canvas");
  canvas.className = "jv-heatmap";
  canvas.dataset.role = role;
  if (label) canvas.setAttribute("aria-label", label);
  canvas.width = size;
  canvas.height = size;
  let last = null;

  /**
   * map: {data: Float32Array, shape: [h, w]} or null; image: {data: Uint8Array, shape: [H, W, 4]}
   * or null (drawn under the map, the map at opacity `alpha`); fit: optional {width, height}
   * display box. Returns the scale used (so a colorbar can label it); pass `scale` to share one
   * across maps.
   */
  function draw({ map = null, image = null, lut, sign = "absolute", clip = DEFAULT_CLIP, alpha = 1, scale, fit }) {
    const ref = image ?? map;
    if (!ref) return null;
    // `fit: {width, height}` stretches a non-square map (layers x steps) to a given box.
    const { width, height } = fit ?? displaySize(ref.shape[0], ref.shape[1], size);
    if (canvas.width !== width) canvas.width = width;
    if (canvas.height !== height) canvas.height = height;
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, width, height);
    if (image) {
      ctx.imageSmoothingEnabled = false;
      ctx.globalAlpha = 1;
      ctx.drawImage(imageCanvas(image), 0, 0, width, height);
    }
    let used = null;
    if (map) {
      const [h, w] = map.shape;
      const drawn = heatmapRGBA(map.data, lut, { sign, clip, scale });
      used = drawn.scale;
      // A coarse map (Grad-CAM at 7x7) is interpolated; a full-resolution one stays crisp.
      ctx.imageSmoothingEnabled = !!image && (h < image.shape[0] || w < image.shape[1]);
      ctx.globalAlpha = image ? alpha : 1;
      ctx.drawImage(pixelCanvas(drawn.rgba, w, h), 0, 0, width, height);
      ctx.globalAlpha = 1;
    }
    last = { map, ref };
    return used;
  }

  /** The map value under a mouse event, as {row, col, value}, or null outside the map. */
  function valueAt(event) {
    if (!last?.map) return null;
    const rect = canvas.getBoundingClientRect();
    const [h, w] = last.map.shape;
    const col = Math.floor(((event.clientX - rect.left) / rect.width) * w);
    const row = Math.floor(((event.clientY - rect.top) / rect.height) * h);
    if (row < 0 || col < 0 || row >= h || col >= w) return null;
    return { row, col, value: last.map.data[row * w + col] };
  }

  return { el: canvas, draw, valueAt };
}
