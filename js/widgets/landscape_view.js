// LandscapeView: a loss landscape computed up front. A 2-D slice is a heat map of the loss (log
// colour scale, so the basin's shape shows) with the centre marked and the loss under the mouse;
// a 1-D slice (or the line between two checkpoints) is a curve with the centre marked.
import "../lib/theme.css";
import "../lib/flow.css";
import { createChart } from "../lib/chart.js";
import { lutFromPayload } from "../lib/colormap.js";
import { formatNumber, h, isolateKeys } from "../lib/dom.js";
import { createColorbar } from "../lib/feedback.js";
import { createHeatmap } from "../lib/heatmap.js";
import { fromPayload } from "../lib/ndarray.js";
import { unitScale } from "../lib/flow.js";

function render({ model, el }) {
  const root = h("div", { className: "jaxviz-root jaxviz-landscape-view" });
  isolateKeys(root);
  el.append(root);
  const spec = model.get("landscape");
  const loss = fromPayload(spec.loss);
  const coords = spec.coordinates.map((c) => fromPayload(c).data);
  const readout = h("div", { className: "jv-flow-note", dataset: { role: "readout" }, text: `loss at the centre: ${formatNumber(spec.centre_loss)}` });
  root.append(h("div", { className: "jv-flow-title" }, [h("span", { text: `Loss landscape (${spec.kind})` })]));

  if (loss.shape.length === 1) {
    const chart = createChart({ role: "landscape", width: 460, height: 280, label: "loss along the direction" });
    const [t] = coords;
    const marks = [{ x: 0, y: spec.centre_loss, color: "#000", text: spec.kind === "line" ? "start" : "centre" }];
    if (spec.kind === "line") {
      const end = t.reduce((best, v, i) => (Math.abs(v - 1) < Math.abs(t[best] - 1) ? i : best), 0);
      marks.push({ x: 1, y: loss.data[end], color: "#d62728", text: "end" });
    }
    chart.draw({ series: [{ x: t, y: loss.data, color: "#1f77b4", width: 1.8 }], marks, x: { label: spec.axis_labels[0] }, y: { label: "loss" } });
    root.append(chart.el, readout);
    return;
  }
  const [n0, n1] = loss.shape;
  const logLoss = Float32Array.from(loss.data, (v) => Math.log10(Math.max(v, 1e-12)));
  const { t, lo, hi } = unitScale(logLoss);
  const lut = lutFromPayload(model.get("luts").viridis);
  const map = createHeatmap({ role: "landscape", size: 320, label: "loss over the plane" });
  map.draw({ map: { data: t, shape: [n0, n1] }, lut, sign: "positive", scale: 1, clip: 100, fit: { width: 320, height: 320 } });
  const marker = h("div", { className: "jv-landscape-centre", text: "★", attrs: { title: "the centre (the parameters)" } });
  const box = h("div", { className: "jv-flow-mapbox", style: { width: "320px", height: "320px" } }, [map.el, marker]);
  const [a, b] = coords;
  const i0 = a.reduce((best, v, i) => (Math.abs(v) < Math.abs(a[best]) ? i : best), 0);
  const j0 = b.reduce((best, v, i) => (Math.abs(v) < Math.abs(b[best]) ? i : best), 0);
  Object.assign(marker.style, { position: "absolute", left: `${((j0 + 0.5) / n1) * 100}%`, top: `${((i0 + 0.5) / n0) * 100}%`, transform: "translate(-50%, -50%)", color: "#e03131", fontSize: "18px", pointerEvents: "none" });
  const colorbar = createColorbar({ role: "landscape-colorbar", width: 320 });
  colorbar.update({ lut, sign: "positive", scale: 1, caption: "loss (log colour scale)", tickLabels: [lo, (lo + hi) / 2, hi].map((v) => formatNumber(10 ** v)) });
  map.el.addEventListener("mousemove", (event) => {
    const at = map.valueAt(event);
    if (!at) return;
    readout.textContent = `${spec.axis_labels[0]} = ${formatNumber(a[at.row])}, ${spec.axis_labels[1]} = ${formatNumber(b[at.col])}: loss ${formatNumber(loss.data[at.row * n1 + at.col])}`;
  });
  root.append(
    h("div", { className: "jv-flow-note", text: `rows: ${spec.axis_labels[0]} (top: ${formatNumber(a[0])}) · columns: ${spec.axis_labels[1]}` }),
    box,
    colorbar.el,
    readout,
  );
}

export default { render };
