// Projector: each layer's representation of a dataset in 2D. Every layer's points, k-means
// clusters and the inputs' thumbnails arrive once; the layer slider and the color toggle redraw in
// the browser, and moving between layers animates the points so each can be followed.
import "../lib/theme.css";
import "./projector.css";

import { createNameSlider, createToggle } from "../lib/controls.js";
import { h, isolateKeys } from "../lib/dom.js";
import { createHeatmap } from "../lib/heatmap.js";
import { fromPayload, take } from "../lib/ndarray.js";

const SIZE = 420;
const MARGIN = 14;
const ANIMATION_MS = 350;

/** Data bounds of (n, 2) points with a little room: [xmin, xmax, ymin, ymax]. */
export function bounds(points) {
  let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
  for (let i = 0; i < points.length; i += 2) {
    x0 = Math.min(x0, points[i]);
    x1 = Math.max(x1, points[i]);
    y0 = Math.min(y0, points[i + 1]);
    y1 = Math.max(y1, points[i + 1]);
  }
  const pad = (a, b) => Math.max((b - a) * 0.04, 1e-6);
  return [x0 - pad(x0, x1), x1 + pad(x0, x1), y0 - pad(y0, y1), y1 + pad(y0, y1)];
}

/** Index of the point nearest (px, py) in canvas pixels within `radius`, or -1. */
export function nearest(screen, px, py, radius) {
  let best = -1;
  let bestDistance = radius * radius;
  for (let i = 0; i < screen.length; i += 2) {
    const d = (screen[i] - px) ** 2 + (screen[i + 1] - py) ** 2;
    if (d <= bestDistance) {
      bestDistance = d;
      best = i / 2;
    }
  }
  return best;
}

function toScreen(points, [x0, x1, y0, y1]) {
  const out = new Float32Array(points.length);
  const span = SIZE - 2 * MARGIN;
  for (let i = 0; i < points.length; i += 2) {
    out[i] = MARGIN + ((points[i] - x0) / (x1 - x0)) * span;
    out[i + 1] = SIZE - MARGIN - ((points[i + 1] - y0) / (y1 - y0)) * span;
  }
  return out;
}

function css([r, g, b]) {
  return `rgb(${r}, ${g}, ${b})`;
}

function render({ model, el }) {
  const root = h("div", { className: "jaxviz-root jaxviz-projector" });
  isolateKeys(root);
  el.append(root);
  const names = model.get("layer_names");
  const points = fromPayload(model.get("points"));
  const labels = fromPayload(model.get("labels")).data;
  const clusters = fromPayload(model.get("clusters"));
  const prototypes = fromPayload(model.get("prototypes"));
  const colors = fromPayload(model.get("colors"));
  const thumbnails = model.get("thumbnails")?.buffer ? fromPayload(model.get("thumbnails")) : null;
  const classNames = model.get("class_names");
  const color = (k) => css(take(colors, k % colors.shape[0]).data);

  const canvas = h("canvas", { className: "jv-projector-canvas", dataset: { role: "projection" }, attrs: { "aria-label": "2D projection" } });
  const ratio = window.devicePixelRatio || 1;
  canvas.width = SIZE * ratio;
  canvas.height = SIZE * ratio;
  canvas.style.width = `${SIZE}px`;
  canvas.style.height = `${SIZE}px`;
  const thumb = createHeatmap({ role: "thumbnail", size: 96, label: "hovered input" });
  thumb.el.hidden = !thumbnails;
  const thumbCaption = h("div", { className: "jv-projector-hover", dataset: { role: "hover" }, text: thumbnails ? "hover a point to see its input" : "hover a point to name it" });
  const legend = h("div", { className: "jv-projector-legend", dataset: { role: "legend" } });
  const title = h("div", { className: "jv-projector-title", dataset: { role: "title" } });
  const protos = h("div", { className: "jv-projector-prototypes", dataset: { role: "prototypes" } });

  const layerSlider = createNameSlider({
    name: "layer",
    label: "layer",
    names,
    value: model.get("layer"),
    onInput: (layer) => {
      model.set("layer", layer);
      model.save_changes();
      animateTo(names.indexOf(layer));
    },
  });
  const colorToggle = createToggle({
    name: "color",
    label: "color by",
    options: [
      { value: "class", label: "class" },
      { value: "cluster", label: "k-means cluster" },
    ],
    value: model.get("color_by"),
    onChange: (v) => {
      model.set("color_by", v);
      model.save_changes();
      paint();
    },
  });
  root.append(
    h("div", { className: "jv-projector-controls" }, [layerSlider.el, colorToggle.el]),
    title,
    h("div", { className: "jv-projector-main" }, [
      canvas,
      h("div", { className: "jv-projector-side" }, [thumb.el, thumbCaption, legend]),
    ]),
    protos,
  );

  let screen = new Float32Array(0);
  let shownLayer = Math.max(0, names.indexOf(model.get("layer")));
  let animation = null;

  const layerScreen = (i) => toScreen(take(points, i).data, bounds(take(points, i).data));

  function colorOf(i) {
    if (model.get("color_by") === "cluster") return color(take(clusters, shownLayer).data[i]);
    return color(labels[i]);
  }

  function paint(hovered = -1) {
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, SIZE, SIZE);
    const n = screen.length / 2;
    const radius = n > 2000 ? 1.6 : n > 500 ? 2.4 : 3.2;
    ctx.globalAlpha = 0.8;
    for (let i = 0; i < n; i++) {
      ctx.fillStyle = colorOf(i);
      ctx.beginPath();
      ctx.arc(screen[2 * i], screen[2 * i + 1], radius, 0, 2 * Math.PI);
      ctx.fill();
    }
    ctx.globalAlpha = 1;
    if (hovered >= 0) {
      ctx.strokeStyle = getComputedStyle(root).getPropertyValue("--jv-fg") || "#000";
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.arc(screen[2 * hovered], screen[2 * hovered + 1], radius + 3, 0, 2 * Math.PI);
      ctx.stroke();
    }
    title.textContent = `${names[shownLayer]}: ${model.get("projection") === "tsne" ? "t-SNE" : "PCA"} of ${n} examples`;
    drawLegend();
    drawPrototypes();
  }

  function drawLegend() {
    if (model.get("color_by") === "cluster") {
      legend.replaceChildren(h("div", { className: "jv-projector-note", text: "colors: k-means clusters of this layer's activations; their prototypes are below" }));
      return;
    }
    legend.replaceChildren(
      ...classNames.map((name, k) =>
        h("div", { className: "jv-projector-key" }, [h("span", { className: "jv-projector-swatch", style: { background: color(k) } }), h("span", { text: name })]),
      ),
    );
  }

  function drawPrototypes() {
    if (model.get("color_by") !== "cluster") {
      protos.replaceChildren();
      return;
    }
    const layerPrototypes = take(prototypes, shownLayer).data;
    const members = take(clusters, shownLayer).data;
    const items = [];
    layerPrototypes.forEach((index, k) => {
      const view = createHeatmap({ role: "prototype", size: 56, label: `prototype of cluster ${k}` });
      if (thumbnails) view.draw({ image: take(thumbnails, index) });
      const size = members.reduce((count, c) => count + (c === k ? 1 : 0), 0);
      view.el.style.outline = `3px solid ${color(k)}`;
      items.push(h("figure", { className: "jv-projector-proto" }, [view.el, h("figcaption", { text: `${size} · ${classNames[labels[index]] ?? ""}` })]));
    });
    protos.replaceChildren(h("h4", { text: "cluster prototypes (the member nearest each centre): size · its class" }), h("div", { className: "jv-projector-row" }, items));
  }

  function animateTo(target) {
    const from = screen;
    shownLayer = target;
    const to = layerScreen(target);
    if (animation) cancelAnimationFrame(animation);
    if (from.length !== to.length) {
      screen = to;
      paint();
      return;
    }
    const start = performance.now();
    const step = (now) => {
      const t = Math.min(1, (now - start) / ANIMATION_MS);
      const ease = t * t * (3 - 2 * t);
      screen = from.map((v, i) => v + (to[i] - v) * ease);
      paint();
      animation = t < 1 ? requestAnimationFrame(step) : null;
      if (t >= 1) screen = to;
    };
    animation = requestAnimationFrame(step);
  }

  canvas.addEventListener("mousemove", (event) => {
    const rect = canvas.getBoundingClientRect();
    const i = nearest(screen, ((event.clientX - rect.left) / rect.width) * SIZE, ((event.clientY - rect.top) / rect.height) * SIZE, 8);
    paint(i);
    if (i < 0) return;
    if (thumbnails) thumb.draw({ image: take(thumbnails, i) });
    const cluster = take(clusters, shownLayer).data[i];
    thumbCaption.textContent = `example #${i}: ${classNames[labels[i]] ?? labels[i]} (cluster ${cluster})`;
  });
  canvas.addEventListener("mouseleave", () => paint());

  screen = layerScreen(shownLayer);
  paint();
  return () => {
    if (animation) cancelAnimationFrame(animation);
  };
}

export default { render };
