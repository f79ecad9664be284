// LatentExplorer: the encoded dataset as a scatter over the latent plane. The plane's grid of
// decodings arrives once, so hovering shows the decoding under the cursor (and the latent there on
// the sliders) without the kernel. Sliders and clicks on empty space set `latent` (the kernel
// decodes it: the preview); clicks on points pick the two ends of the interpolation strip (`pair`).
import "../lib/theme.css";
import "./latent_explorer.css";
import { createSlider } from "../lib/controls.js";
import { formatNumber, h, isolateKeys } from "../lib/dom.js";
import { fromPayload } from "../lib/ndarray.js";
import { announceRendered, createRequester, onChange } from "../lib/sync.js";

const SIZE = 380;
const PREVIEW = 150;
const MAX_SLIDERS = 16;

/** Draws image `index` of a float32 (..., H, W, C) stack onto `canvas`, `scale` px per pixel. */
export function drawImage(canvas, stack, index, [lo, hi], size) {
  const shape = stack.shape;
  const [height, width, channels] = shape.slice(-3);
  const stride = height * width * channels;
  const data = stack.data.subarray(index * stride, (index + 1) * stride);
  const small = document.createElement("canvas");
  small.width = width;
  small.height = height;
  const ctx = small.getContext("2d");
  const img = ctx.createImageData(width, height);
  const span = hi - lo || 1;
  for (let p = 0; p < height * width; p++) {
    for (let c = 0; c < 3; c++) {
      const v = data[p * channels + (channels === 1 ? 0 : c)];
      img.data[4 * p + c] = Math.max(0, Math.min(255, Math.round(((v - lo) / span) * 255)));
    }
    img.data[4 * p + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  const scale = Math.max(1, Math.floor(size / Math.max(width, height)));
  canvas.width = width * scale;
  canvas.height = height * scale;
  canvas.style.width = `${width * scale}px`;
  canvas.style.height = `${height * scale}px`;
  const out = canvas.getContext("2d");
  out.imageSmoothingEnabled = false;
  out.drawImage(small, 0, 0, width * scale, height * scale);
}

function render({ model, el }) {
  const root = h("div", { className: "jaxviz-root jaxviz-latent-explorer" });
  isolateKeys(root);
  el.append(root);
  const points = fromPayload(model.get("points"));
  const labels = fromPayload(model.get("labels")).data;
  const colors = fromPayload(model.get("colors"));
  const plane = fromPayload(model.get("plane"));
  const axes = fromPayload(model.get("axes")).data;
  const center = fromPayload(model.get("center")).data;
  const span = model.get("span");
  const range = model.get("value_range");
  const steps = plane.shape[0];
  const dims = center.length;
  const n = points.shape[0];
  const color = (k) => {
    if (k < 0) return "rgba(60, 60, 70, 0.8)";
    const o = (k % colors.shape[0]) * 4;
    return `rgb(${colors.data[o]}, ${colors.data[o + 1]}, ${colors.data[o + 2]})`;
  };
  const requester = createRequester(model, { onBusy: (b) => root.classList.toggle("jv-busy", b) });
  let hoverCell = null;
  let nextEnd = 0;

  const status = h("div", { className: "jv-latent-note", dataset: { role: "status" } });
  const scatter = h("canvas", { className: "jv-latent-plane", dataset: { role: "plane" }, attrs: { "aria-label": "encoded data over the decoded latent plane" } });
  const preview = h("canvas", { className: "jv-latent-image", dataset: { role: "preview" } });
  const previewLabel = h("div", { className: "jv-latent-note", text: "current latent" });
  const stripRow = h("div", { className: "jv-latent-strip", dataset: { role: "strip" } });
  const sliders = [];
  const sliderBox = h("div", { className: "jv-latent-sliders" });
  const ranges = model.get("slider_ranges");
  for (let k = 0; k < Math.min(dims, MAX_SLIDERS); k++) {
    const [lo, hi] = ranges[k];
    const slider = createSlider({
      name: `dim-${k}`, label: `z${k}`, min: lo, max: hi, step: (hi - lo) / 200, value: model.get("latent")[k],
      onInput: (v) => {
        const z = [...model.get("latent")];
        z[k] = v;
        setLatent(z);
      },
    });
    sliders.push(slider);
    sliderBox.append(slider.el);
  }
  if (dims > MAX_SLIDERS) sliderBox.append(h("div", { className: "jv-latent-note", text: `first ${MAX_SLIDERS} of ${dims} dimensions` }));
  const legend = h("div", { className: "jv-latent-legend" },
    model.get("class_names").map((name, k) => h("span", { className: "jv-latent-key" }, [
      h("span", { className: "jv-latent-swatch", style: { background: color(k) } }), h("span", { text: name }),
    ])));
  root.append(
    h("div", { className: "jv-latent-title", text: `Latent explorer \u00b7 ${dims}-D latent${model.get("projection") === "pca" ? " (PCA plane of the data)" : ""}` }),
    h("div", { className: "jv-latent-main" }, [
      h("div", {}, [scatter, legend, status]),
      h("div", { className: "jv-latent-side" }, [previewLabel, preview, sliderBox]),
    ]),
    h("div", { className: "jv-latent-note", text: "interpolation: click two points (A, then B)" }),
    stripRow,
  );

  // the decoded grid as one mosaic image, drawn faintly under the points
  const mosaic = document.createElement("canvas");
  {
    const [height, width] = plane.shape.slice(2, 4);
    // one pixel between tiles: digits fill their height, so touching tiles would read as stripes
    mosaic.width = steps * (width + 1);
    mosaic.height = steps * (height + 1);
    const ctx = mosaic.getContext("2d");
    const tile = document.createElement("canvas");
    for (let i = 0; i < steps; i++) {
      for (let j = 0; j < steps; j++) {
        drawImage(tile, plane, i * steps + j, range, 1);
        ctx.drawImage(tile, j * (width + 1), i * (height + 1));
      }
    }
  }

  const toPixel = (x, y) => [((x + span) / (2 * span)) * SIZE, ((span - y) / (2 * span)) * SIZE];
  const fromPixel = (px, py) => [(px / SIZE) * 2 * span - span, span - (py / SIZE) * 2 * span];
  const latentAt = (x, y) => Array.from(center, (c, k) => c + x * axes[k] + y * axes[dims + k]);

  function setLatent(z) {
    model.set("latent", z.map(Number));
    requester.commit();
  }

  function drawPlane() {
    const dpr = window.devicePixelRatio || 1;
    scatter.width = scatter.height = Math.round(SIZE * dpr);
    scatter.style.width = scatter.style.height = `${SIZE}px`;
    const ctx = scatter.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, SIZE, SIZE);
    // grid point (i, j) sits at pixel (j, i) * SIZE / (steps - 1): its tile is centred there
    const tile = SIZE / (steps - 1);
    ctx.globalAlpha = 0.4;
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(mosaic, -tile / 2, -tile / 2, SIZE + tile, SIZE + tile);
    ctx.globalAlpha = 1;
    if (hoverCell) {
      // the grid point whose decoding the preview shows
      const cell = SIZE / (steps - 1);
      const [gx, gy] = [hoverCell[1] * cell, hoverCell[0] * cell];
      ctx.strokeStyle = "rgba(25, 113, 194, 0.9)";
      ctx.lineWidth = 2;
      ctx.strokeRect(gx - cell / 2, gy - cell / 2, cell, cell);
    }
    for (let i = 0; i < n; i++) {
      const [px, py] = toPixel(points.data[2 * i], points.data[2 * i + 1]);
      ctx.fillStyle = color(labels[i]);
      ctx.beginPath();
      ctx.arc(px, py, 2.2, 0, 2 * Math.PI);
      ctx.fill();
    }
    const pair = model.get("pair");
    ctx.strokeStyle = "#000";
    ctx.fillStyle = "#000";
    ctx.lineWidth = 1.5;
    ctx.font = "bold 12px sans-serif";
    pair.forEach((i, k) => {
      const [px, py] = toPixel(points.data[2 * i], points.data[2 * i + 1]);
      ctx.beginPath();
      ctx.arc(px, py, 7, 0, 2 * Math.PI);
      ctx.stroke();
      ctx.fillText(k ? "B" : "A", px + 8, py - 8);
    });
    const z = model.get("latent");
    // the current latent's place on the plane (its projection)
    let x = 0;
    let y = 0;
    for (let k = 0; k < dims; k++) {
      x += (z[k] - center[k]) * axes[k];
      y += (z[k] - center[k]) * axes[dims + k];
    }
    const [cx, cy] = toPixel(x, y);
    ctx.strokeStyle = "rgba(232, 89, 12, 0.95)";
    ctx.beginPath();
    ctx.moveTo(cx - 6, cy);
    ctx.lineTo(cx + 6, cy);
    ctx.moveTo(cx, cy - 6);
    ctx.lineTo(cx, cy + 6);
    ctx.stroke();
  }

  function drawPreview() {
    if (hoverCell) {
      drawImage(preview, plane, hoverCell[0] * steps + hoverCell[1], range, PREVIEW);
      previewLabel.textContent = "under the cursor (from the decoded grid)";
      return;
    }
    const payload = model.get("preview");
    if (payload && payload.shape) drawImage(preview, fromPayload(payload), 0, range, PREVIEW);
    previewLabel.textContent = "current latent (the sliders), decoded";
  }

  function drawStrip() {
    const payload = model.get("strip");
    if (!payload || !payload.shape) return;
    const stack = fromPayload(payload);
    stripRow.replaceChildren(...Array.from({ length: stack.shape[0] }, (_, k) => {
      const c = h("canvas", { className: "jv-latent-image" });
      drawImage(c, stack, k, range, 64);
      return c;
    }));
  }

  function drawSliders() {
    const z = model.get("latent");
    sliders.forEach((s, k) => s.set(z[k]));
  }

  function nearestPoint(px, py) {
    let best = -1;
    let bestD = 36; // within 6 px
    for (let i = 0; i < n; i++) {
      const [x, y] = toPixel(points.data[2 * i], points.data[2 * i + 1]);
      const d = (x - px) ** 2 + (y - py) ** 2;
      if (d < bestD) [best, bestD] = [i, d];
    }
    return best;
  }

  function cursor(event) {
    const rect = scatter.getBoundingClientRect();
    return [event.clientX - rect.left, event.clientY - rect.top];
  }

  scatter.addEventListener("mousemove", (event) => {
    const [px, py] = cursor(event);
    // the nearest grid point: plane[i][j] decodes (xs[j], ys[i]), xs from -span to span, ys down
    const nearest = (t) => Math.min(steps - 1, Math.max(0, Math.round((t / SIZE) * (steps - 1))));
    hoverCell = [nearest(py), nearest(px)];
    const [x, y] = fromPixel(px, py);
    const z = latentAt(x, y);
    sliders.forEach((s, k) => s.set(z[k]));
    status.textContent = `latent (${z.slice(0, 4).map(formatNumber).join(", ")}${dims > 4 ? ", \u2026" : ""}) \u00b7 click: set it, or pick a point`;
    drawPlane();
    drawPreview();
  });
  scatter.addEventListener("mouseleave", () => {
    hoverCell = null;
    status.textContent = "";
    drawSliders();
    drawPlane();
    drawPreview();
  });
  scatter.addEventListener("click", (event) => {
    const [px, py] = cursor(event);
    const picked = nearestPoint(px, py);
    if (picked >= 0) {
      const pair = [...model.get("pair")];
      pair[nextEnd] = picked;
      nextEnd = 1 - nextEnd;
      model.set("pair", pair);
      requester.commit();
      drawPlane();
      return;
    }
    const [x, y] = fromPixel(px, py);
    setLatent(latentAt(x, y));
  });

  drawPlane();
  drawPreview();
  drawStrip();
  const off = [
    onChange(model, ["preview"], drawPreview),
    onChange(model, ["strip"], drawStrip),
    onChange(model, ["latent", "pair"], () => {
      if (!hoverCell) drawSliders();
      drawPlane();
    }),
  ];
  announceRendered(model);
  return () => {
    off.forEach((f) => f());
    requester.dispose();
  };
}

export default { render };
