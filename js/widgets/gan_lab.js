// GANLab: a 2-D GAN training live in the kernel. Python pushes a frame (generated points, the
// discriminator's surface, the generator's gradient at the points, the loss curves) at most every
// interval; this view only draws it. Play / pause set the `playing` trait, the learning-rate
// slider sets `learning_rate` (read by the next training chunk), step sends a message.
import "../lib/theme.css";
import "./gan_lab.css";
import { createChart } from "../lib/chart.js";
import { lutFromPayload, applyColormap } from "../lib/colormap.js";
import { createSlider } from "../lib/controls.js";
import { formatNumber, h, isolateKeys } from "../lib/dom.js";
import { fromPayload } from "../lib/ndarray.js";
import { announceRendered, onChange } from "../lib/sync.js";

const SIZE = 380;
const REAL = "#2f9e44";
const FAKE = "#7048e8";
const ARROWS = 120;

function render({ model, el }) {
  const root = h("div", { className: "jaxviz-root jaxviz-gan-lab" });
  isolateKeys(root);
  el.append(root);
  const lut = lutFromPayload(model.get("lut"));

  const status = h("span", { className: "jv-gan-status", dataset: { role: "status" } });
  const play = h("button", { className: "jv-gan-button", attrs: { type: "button" }, dataset: { control: "play" } });
  const step = h("button", { className: "jv-gan-button", text: "step", attrs: { type: "button", title: "pause, then one training step" }, dataset: { control: "step" } });
  const rate = createSlider({
    name: "learning-rate",
    label: "learning rate",
    min: -4,
    max: -1,
    step: 0.25,
    value: Math.log10(model.get("learning_rate")),
    format: (v) => formatNumber(10 ** v),
    onInput: (v) => {
      model.set("learning_rate", Number((10 ** v).toPrecision(3)));
      model.save_changes();
    },
  });
  const canvas = h("canvas", { className: "jv-gan-view", dataset: { role: "view" }, attrs: { "aria-label": "real and generated points over the discriminator's surface" } });
  const legend = h("div", { className: "jv-gan-legend" }, [
    h("span", { className: "jv-gan-swatch", style: { background: REAL } }), h("span", { text: "real" }),
    h("span", { className: "jv-gan-swatch", style: { background: FAKE } }), h("span", { text: "generated" }),
    h("span", { className: "jv-gan-surface-key" }), h("span", { text: "discriminator: fake \u2192 real" }),
  ]);
  const chart = createChart({ role: "losses", width: 360, height: 240, label: "losses over steps" });
  root.append(
    h("div", { className: "jv-gan-title" }, [h("span", { text: "GAN Lab" }), status]),
    h("div", { className: "jv-gan-controls" }, [play, step, rate.el]),
    h("div", { className: "jv-gan-main" }, [h("div", {}, [canvas, legend]), chart.el]),
  );
  const key = legend.querySelector(".jv-gan-surface-key");
  key.style.background = `linear-gradient(90deg, ${[0, 0.5, 1].map((t) => {
    const o = Math.round(t * 255) * 4;
    return `rgb(${lut[o]},${lut[o + 1]},${lut[o + 2]})`;
  }).join(",")})`;

  play.addEventListener("click", () => {
    model.set("playing", !model.get("playing"));
    model.save_changes();
    drawControls();
  });
  step.addEventListener("click", () => model.send({ event: "step" }));

  function drawControls() {
    const playing = model.get("playing");
    play.textContent = playing ? "pause" : "play";
    play.setAttribute("aria-pressed", String(playing));
    rate.set(Math.log10(model.get("learning_rate")));
  }

  function drawView(frame) {
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(SIZE * dpr);
    canvas.height = Math.round(SIZE * dpr);
    canvas.style.width = canvas.style.height = `${SIZE}px`;
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const [xmin, xmax, ymin, ymax] = model.get("bounds");
    const X = (x) => ((x - xmin) / (xmax - xmin)) * SIZE;
    const Y = (y) => ((ymax - y) / (ymax - ymin)) * SIZE;
    const surface = fromPayload(frame.surface);
    const [rows, cols] = surface.shape;
    const cells = new OffscreenCanvasLike(cols, rows);
    const image = cells.ctx.createImageData(cols, rows);
    applyColormap(surface.data, lut, image.data);
    cells.ctx.putImageData(image, 0, 0);
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(cells.canvas, 0, 0, SIZE, SIZE);
    const dots = (points, color, radius) => {
      ctx.fillStyle = color;
      for (let i = 0; i < points.shape[0]; i++) {
        ctx.beginPath();
        ctx.arc(X(points.data[2 * i]), Y(points.data[2 * i + 1]), radius, 0, 2 * Math.PI);
        ctx.fill();
      }
    };
    ctx.globalAlpha = 0.55;
    dots(fromPayload(model.get("real")), REAL, 1.6);
    ctx.globalAlpha = 1;
    const fake = fromPayload(frame.fake);
    dots(fake, FAKE, 2);
    // the generator's gradient: arrows scaled together, the longest a tenth of the view
    const push = fromPayload(frame.push).data;
    const k = Math.min(ARROWS, fake.shape[0]);
    let longest = 0;
    for (let i = 0; i < k; i++) longest = Math.max(longest, Math.hypot(push[2 * i], push[2 * i + 1]));
    const scale = longest > 0 ? (0.1 * SIZE) / longest : 0;
    ctx.strokeStyle = "rgba(33, 37, 41, 0.8)";
    ctx.lineWidth = 1;
    for (let i = 0; i < k; i++) {
      const [x0, y0] = [X(fake.data[2 * i]), Y(fake.data[2 * i + 1])];
      const [dx, dy] = [push[2 * i] * scale, -push[2 * i + 1] * scale];
      const length = Math.hypot(dx, dy);
      if (length < 1) continue;
      const [x1, y1] = [x0 + dx, y0 + dy];
      const [ux, uy] = [dx / length, dy / length];
      ctx.beginPath();
      ctx.moveTo(x0, y0);
      ctx.lineTo(x1, y1);
      ctx.moveTo(x1 - 4 * ux + 2.5 * uy, y1 - 4 * uy - 2.5 * ux);
      ctx.lineTo(x1, y1);
      ctx.lineTo(x1 - 4 * ux - 2.5 * uy, y1 - 4 * uy + 2.5 * ux);
      ctx.stroke();
    }
  }

  function drawLosses(frame) {
    const curve = fromPayload(frame.losses);
    const n = curve.shape[0];
    const column = (j) => Float64Array.from({ length: n }, (_, i) => curve.data[3 * i + j]);
    const steps = column(0);
    chart.draw({
      title: "losses",
      x: { label: "step", min: 0, max: Math.max(1, n ? steps[n - 1] : 1) },
      y: { label: "loss" },
      series: [
        { x: steps, y: column(1), color: "#e8590c", label: "discriminator" },
        { x: steps, y: column(2), color: "#1971c2", label: "generator" },
      ],
    });
  }

  function draw() {
    const frame = model.get("frame");
    if (!frame || !frame.surface) return;
    drawView(frame);
    drawLosses(frame);
    const curve = fromPayload(frame.losses);
    const n = curve.shape[0];
    const parts = [`step ${frame.step}`];
    if (n) parts.push(`D loss ${formatNumber(curve.data[3 * n - 2])}`, `G loss ${formatNumber(curve.data[3 * n - 1])}`);
    if (frame.coverage) parts.push(`modes covered ${Math.round(frame.coverage.covered * frame.coverage.modes)}/${frame.coverage.modes}`);
    status.textContent = parts.join(" \u00b7 ");
    root.dataset.step = String(frame.step);
  }

  drawControls();
  draw();
  const off = [onChange(model, ["frame"], draw), onChange(model, ["playing", "learning_rate"], drawControls)];
  announceRendered(model);
  return () => off.forEach((f) => f());
}

/** A small canvas for the surface's cells, scaled up by drawImage. */
class OffscreenCanvasLike {
  constructor(width, height) {
    this.canvas = document.createElement("canvas");
    this.canvas.width = width;
    this.canvas.height = height;
    this.ctx = this.canvas.getContext("2d");
  }
}

export default { render };
