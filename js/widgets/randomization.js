// jv.RandomizationView: the randomization cascade (Adebayo et al., 2018). The trained model's map,
// then the map after each randomization step, for one example (switched in the browser), and the
// rank correlation and SSIM per step with their 95% CIs as shaded bands.
import "../lib/theme.css";
import "../lib/trust.css";
import { createChart } from "../lib/chart.js";
import { applyColormap, lutFromPayload } from "../lib/colormap.js";
import { createSelect } from "../lib/controls.js";
import { h, isolateKeys } from "../lib/dom.js";
import { imageCanvas } from "../lib/heatmap.js";
import { fromPayload, take } from "../lib/ndarray.js";

const TILE = 96;

function tile(rgba, hh, ww, role) {
  const canvas = h("canvas", { dataset: { role } });
  const scale = Math.max(1, Math.floor(TILE / Math.max(hh, ww)));
  canvas.width = ww * scale;
  canvas.height = hh * scale;
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(imageCanvas({ data: rgba, shape: [hh, ww, 4] }), 0, 0, ww * scale, hh * scale);
  return canvas;
}

function render({ model, el }) {
  const root = h("div", { className: "jaxviz-root jaxviz-randomization" });
  isolateKeys(root);
  el.append(root);
  const data = model.get("data");
  const maps = fromPayload(data.maps); // (batch, 1 + steps, H, W), each in [0, 1]
  const images = data.images ? fromPayload(data.images) : null;
  const lut = lutFromPayload(data.lut);
  const [count, columns, hh, ww] = maps.shape;
  const strip = h("div", { className: "jv-cascade", dataset: { role: "cascade" } });
  const chart = createChart({ role: "similarity", width: Math.max(420, 104 * columns), height: 220, label: "similarity to the trained map per step" });
  const select = createSelect({
    name: "example", label: "example",
    options: Array.from({ length: count }, (_, i) => ({ value: String(i), label: String(i) })),
    value: String(model.get("example")),
    onChange: (v) => {
      model.set("example", Number(v));
      model.save_changes();
    },
  });
  const layers = data.layers;
  const names = ["trained", ...layers.map((l, i) => (data.cascading && i ? `+ ${l}` : l))];
  root.append(
    h("div", { className: "jv-trust-title" }, [h("span", { text: "Model randomization" }), h("span", { className: "jv-trust-sub", text: data.cascading ? "cascading from the top layer down" : "one layer at a time" })]),
    count > 1 ? select.el : null,
    strip,
    chart.el,
    h("div", { className: "jv-trust-note", text: "An explanation of the model should change when its weights are destroyed: a curve that stays near 1 is a warning." }),
  );

  function drawStrip() {
    const i = model.get("example");
    const figures = [];
    if (images) figures.push(h("figure", {}, [tile(take(images, i).data, hh, ww, "input"), h("figcaption", { text: "input" })]));
    const own = take(maps, i);
    for (let k = 0; k < columns; k++) {
      const rgba = applyColormap(take(own, k).data, lut);
      figures.push(h("figure", {}, [tile(rgba, hh, ww, `map-${k}`), h("figcaption", { text: names[k] })]));
    }
    strip.replaceChildren(...figures);
  }

  function drawChart() {
    const x = layers.map((_, k) => k + 1);
    const bands = [];
    const series = [];
    for (const [label, values, color] of [["Spearman rank correlation", data.rank_correlation, "#1971c2"], ["SSIM", data.ssim, "#e8590c"]]) {
      if (!values.length) continue;
      series.push({ x, y: values.map((v) => v.score), color, label, width: 2, markers: true });
      series.push({ x, y: values.map((v) => v.ci[0]), color, width: 0.8, dash: true });
      series.push({ x, y: values.map((v) => v.ci[1]), color, width: 0.8, dash: true });
    }
    chart.draw({
      series,
      bands,
      x: { ticks: layers.map((l, k) => ({ value: k + 1, label: l })), pad: 0.3, label: data.cascading ? "randomized down to" : "layer randomized" },
      y: { min: Math.min(-0.2, ...series.map((s) => Math.min(...s.y))), max: 1, label: "similarity" },
      title: "similarity to the trained model's map (dashed: 95% CI)",
    });
  }
  model.on("change:example", () => {
    select.set(String(model.get("example")));
    drawStrip();
  });
  drawStrip();
  drawChart();
}

export default { render };
