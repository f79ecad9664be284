// jv.DeletionScrubber: deletion and insertion curves with the input at each point. Every frame
// (the input with k% removed or inserted) arrives once; dragging along the chart, the slider or
// the arrow keys only pick a frame, with no kernel round trip.
import "../lib/theme.css";
import "../lib/trust.css";
import { createChart } from "../lib/chart.js";
import { createSelect, createSlider } from "../lib/controls.js";
import { formatNumber, h, isolateKeys } from "../lib/dom.js";
import { imageCanvas } from "../lib/heatmap.js";
import { fromPayload, take } from "../lib/ndarray.js";

const COLORS = { deletion: "#c92a2a", insertion: "#1971c2" };
const FRAME_SIZE = 160;

function render({ model, el }) {
  const root = h("div", { className: "jaxviz-root jaxviz-scrubber" });
  isolateKeys(root);
  el.append(root);
  const data = model.get("data");
  const fractions = fromPayload(data.fractions).data;
  const points = data.points;
  const kinds = data.kinds;
  const curves = Object.fromEntries(kinds.map((k) => [k, fromPayload(data.curves[k])]));
  const baselines = Object.fromEntries(kinds.map((k) => [k, fromPayload(data.baselines[k])]));
  const frames = Object.fromEntries(kinds.map((k) => [k, fromPayload(data.frames[k])]));
  const count = data.classes.length;
  const className = (c) => (data.class_names ? data.class_names[c] : `class ${c}`);

  const chart = createChart({ role: "curve", width: 420, height: 260, label: "deletion and insertion curves" });
  const views = kinds.map((kind) => {
    const canvas = h("canvas", { dataset: { role: `frame-${kind}` }, attrs: { "aria-label": `${kind} frame` } });
    const caption = h("div", { className: "jv-caption", dataset: { role: `caption-${kind}` } });
    return { kind, canvas, caption, el: h("div", { className: "jv-scrub-frame" }, [h("b", { text: kind, style: { color: COLORS[kind] } }), canvas, caption]) };
  });
  const slider = createSlider({
    name: "position", label: "share", min: 0, max: points - 1, value: model.get("position"),
    format: (i) => `${Math.round(fractions[i] * 100)}%`,
    onInput: (i) => setPosition(i),
  });
  const select = createSelect({
    name: "index", label: "example",
    options: data.classes.map((c, i) => ({ value: String(i), label: `${i}: ${className(c)}` })),
    value: String(model.get("index")),
    onChange: (v) => {
      model.set("index", Number(v));
      model.save_changes();
    },
  });
  const areas = h("div", { className: "jv-trust-note", dataset: { role: "areas" } });
  const legend = h("div", { className: "jv-scrub-legend", dataset: { role: "legend" } });
  root.append(
    h("div", { className: "jv-trust-title" }, [h("span", { text: "Deletion / insertion" }), h("span", { className: "jv-trust-sub", text: "drag along the curve" })]),
    h("div", { className: "jv-scrub-row" }, [count > 1 ? select.el : null, slider.el]),
    h("div", { className: "jv-scrub-row" }, [h("div", {}, [chart.el, legend]), ...views.map((v) => v.el)]),
    areas,
  );

  function setPosition(i) {
    const p = Math.max(0, Math.min(points - 1, i));
    if (p === model.get("position")) return;
    model.set("position", p);
    model.save_changes();
  }

  // Dragging on the chart: the nearest point to the pointer's x.
  let dragging = false;
  function fromPointer(e) {
    const g = chart.geometry();
    if (!g) return;
    const box = chart.el.getBoundingClientRect();
    const share = (e.clientX - box.left - g.left) / (g.right - g.left);
    setPosition(Math.round(share * (points - 1)));
  }
  chart.el.addEventListener("pointerdown", (e) => {
    dragging = true;
    chart.el.setPointerCapture?.(e.pointerId);
    fromPointer(e);
  });
  chart.el.addEventListener("pointermove", (e) => dragging && fromPointer(e));
  chart.el.addEventListener("pointerup", () => (dragging = false));
  chart.el.addEventListener("pointercancel", () => (dragging = false));

  function draw() {
    const i = model.get("index");
    const p = model.get("position");
    slider.set(p);
    const series = [];
    const marks = [];
    for (const kind of kinds) {
      const y = take(curves[kind], i).data;
      series.push({ x: fractions, y, color: COLORS[kind], label: `${kind} (AUC ${formatNumber(data.areas[kind][i])})`, width: 2.2 });
      if (baselines[kind].shape[1]) series.push({ x: fractions, y: take(baselines[kind], i).data, color: COLORS[kind], label: `${kind}, random order`, dash: true, width: 1.2 });
      marks.push({ x: fractions[p], y: y[p], color: COLORS[kind] });
    }
    chart.draw({
      title: `example ${i}: ${className(data.classes[i])}`,
      series,
      marks,
      cursor: fractions[p],
      legend: false,
      x: { label: "share removed / inserted", min: 0, max: 1 },
      y: { label: "class probability", min: 0, max: 1 },
    });
    legend.replaceChildren(
      ...series.map((s) => h("span", {}, [h("i", { className: s.dash ? "jv-dashed" : "", style: { "border-top-color": s.color } }), document.createTextNode(s.label)])),
    );
    for (const v of views) {
      const frame = take(frames[v.kind], i * points + p);
      const [hh, ww] = frame.shape;
      const scale = Math.max(1, Math.floor(FRAME_SIZE / Math.max(hh, ww)));
      v.canvas.width = ww * scale;
      v.canvas.height = hh * scale;
      const ctx = v.canvas.getContext("2d");
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(imageCanvas(frame), 0, 0, ww * scale, hh * scale);
      const verb = v.kind === "deletion" ? "removed" : "inserted";
      v.caption.textContent = `${Math.round(fractions[p] * 100)}% ${verb} · p = ${formatNumber(take(curves[v.kind], i).data[p])}`;
    }
    areas.textContent = kinds
      .map((k) => {
        const base = data.baseline_areas[k];
        const better = k === "deletion" ? "lower" : "higher";
        return `${k} AUC ${formatNumber(data.areas[k][i])}` + (base ? ` (random orders ${formatNumber(base[i])}; ${better} is better)` : "");
      })
      .join(" · ");
  }
  model.on("change:position", draw);
  model.on("change:index", () => {
    select.set(String(model.get("index")));
    draw();
  });
  draw();
}

export default { render };
