// FlowMonitor: live training view. Everything arrives from the kernel in one push (metrics, the
// layers x steps history, histograms for a spread of steps, diagnoses); the step slider, layer
// choice and heat-map field switch in the browser, so they work while training keeps the kernel busy.
import "../lib/theme.css";
import "../lib/flow.css";
import { createChart } from "../lib/chart.js";
import { lutFromPayload } from "../lib/colormap.js";
import { createSelect, createSlider, createToggle } from "../lib/controls.js";
import { h, isolateKeys } from "../lib/dom.js";
import { createColorbar } from "../lib/feedback.js";
import { nearestIndex, resampleColumns, signedLogTicks, unitScale } from "../lib/flow.js";
import { createHeatmap } from "../lib/heatmap.js";
import { fromPayload, take } from "../lib/ndarray.js";

const HISTORY_COLS = 320;
const METRIC_COLORS = ["#1971c2", "#e8590c", "#2f9e44", "#ae3ec9", "#868e96"];

function rowLabels(names, selected, onPick) {
  return names.map((n) => {
    const span = h("span", { text: n, attrs: { title: n }, className: n === selected ? "jv-selected" : "" });
    span.addEventListener("click", () => onPick(n));
    return span;
  });
}

function render({ model, el }) {
  const root = h("div", { className: "jaxviz-root jaxviz-flow-monitor" });
  isolateKeys(root);
  el.append(root);
  const luts = model.get("luts");
  const magma = lutFromPayload(luts.magma);
  const greys = lutFromPayload(luts.Greys);
  let field = "grad_norm";
  let layer = null;
  let follow = model.get("step") < 0;
  const arr = (name) => fromPayload(model.get(name));
  const histSteps = () => Array.from(arr("hist_steps").data);
  const layers = () => model.get("layers");
  const mapHeight = () => Math.max(60, Math.min(240, 16 * layers().length));

  const status = h("span", { className: "jv-flow-sub", dataset: { role: "status" } });
  const title = h("div", { className: "jv-flow-title" }, [h("span", { text: "Training monitor" }), status]);

  const metrics = createChart({ role: "metrics", width: 330, height: 210, label: "metric curves" });
  const history = createHeatmap({ role: "history", label: "log gradient norm per layer and step" });
  const historyLabels = h("div", { className: "jv-flow-rowlabels" });
  const historyCursor = h("div", { className: "jv-flow-cursor" });
  const historyBox = h("div", { className: "jv-flow-mapbox" }, [history.el, historyCursor]);
  const historyAxis = h("div", { className: "jv-flow-axis" });
  const colorbar = createColorbar({ role: "history-colorbar", width: 240 });
  const fieldToggle = createToggle({
    name: "field",
    label: "heat map shows",
    options: [{ value: "grad_norm", label: "gradient" }],
    value: field,
    onChange: (v) => {
      field = v;
      drawHistory();
    },
  });

  const slider = createSlider({
    name: "step", label: "step", min: 0, max: 0, value: 0,
    format: (i) => String(histSteps()[i] ?? "-"),
    onInput: (i) => {
      follow = i >= histSteps().length - 1;
      model.set("step", follow ? -1 : histSteps()[i]);
      model.save_changes();
      drawStep();
    },
  });
  const layerSelect = createSelect({
    name: "layer", label: "layer", options: [], value: "",
    onChange: (v) => pickLayer(v),
  });

  const weights = createHeatmap({ role: "weight-histograms", label: "weight histograms per layer" });
  const grads = createHeatmap({ role: "gradient-histograms", label: "gradient histograms per layer" });
  const weightLabels = h("div", { className: "jv-flow-rowlabels" });
  const gradLabels = h("div", { className: "jv-flow-rowlabels" });
  const weightAxis = h("div", { className: "jv-flow-axis" });
  const gradAxis = h("div", { className: "jv-flow-axis" });
  const layerChart = createChart({ role: "layer-histogram", width: 300, height: 200, label: "histograms of the chosen layer" });
  const diagnoses = h("ul", { className: "jv-flow-diagnoses", dataset: { role: "diagnoses" } });

  const histPanel = (caption, map, labels, axis) =>
    h("div", { className: "jv-flow-panel" }, [
      h("div", { className: "jv-flow-caption", text: caption }),
      h("div", { className: "jv-flow-grid" }, [labels, map.el, h("span"), axis]),
    ]);

  root.append(
    title,
    h("div", { className: "jv-flow-row" }, [
      h("div", { className: "jv-flow-panel" }, [h("div", { className: "jv-flow-caption", text: "metrics" }), metrics.el]),
      h("div", { className: "jv-flow-panel" }, [
        h("div", { className: "jv-flow-caption", text: "per layer and step (log scale; older steps thinned)" }),
        fieldToggle.el,
        h("div", { className: "jv-flow-grid" }, [historyLabels, historyBox, h("span"), historyAxis, h("span"), colorbar.el]),
      ]),
    ]),
    h("div", { className: "jv-flow-row" }, [slider.el, layerSelect.el]),
    h("div", { className: "jv-flow-row" }, [
      histPanel("weights at this step", weights, weightLabels, weightAxis),
      histPanel("gradients at this step", grads, gradLabels, gradAxis),
      h("div", { className: "jv-flow-panel" }, [h("div", { className: "jv-flow-caption", text: "chosen layer" }), layerChart.el]),
    ]),
    h("div", { className: "jv-flow-caption", text: "diagnoses" }),
    diagnoses,
  );


  function pickLayer(name) {
    layer = name;
    layerSelect.set(name);
    drawStep();
  }

  function drawHistory() {
    const fields = model.get("fields");
    const names = layers();
    const steps = arr("steps").data;
    if (!fields[field]) field = "grad_norm";
    const entry = fields[field];
    if (!entry || steps.length === 0) return;
    const values = fromPayload(entry.data);
    const resampled = resampleColumns(values.data, names.length, steps, HISTORY_COLS);
    const { t, lo, hi } = unitScale(resampled);
    const fit = { width: HISTORY_COLS, height: mapHeight() };
    history.draw({ map: { data: t, shape: [names.length, HISTORY_COLS] }, lut: magma, sign: "positive", scale: 1, fit });
    historyLabels.style.height = `${fit.height}px`;
    historyLabels.replaceChildren(...rowLabels(names, layer, pickLayer));
    const first = steps[0];
    const last = steps[steps.length - 1];
    historyAxis.replaceChildren(
      ...[0, 0.25, 0.5, 0.75, 1].map((f) =>
        h("span", { text: String(Math.round(first + f * (last - first))), style: { left: `${f * 100}%` } }),
      ),
    );
    historyAxis.style.width = `${fit.width}px`;
    colorbar.update({ lut: magma, sign: "positive", scale: 1, caption: `${entry.label} (log10)`, tickLabels: [lo, (lo + hi) / 2, hi].map((v) => v.toFixed(1)) });
    fieldToggle.el.replaceChildren(
      ...Object.entries(fields).map(([key, f]) => {
        const b = h("button", { className: "jv-toggle-button", text: f.label, attrs: { type: "button", "aria-pressed": String(key === field) }, dataset: { value: key } });
        b.addEventListener("click", () => {
          field = key;
          drawHistory();
        });
        return b;
      }),
    );
    placeCursor();
  }

  function placeCursor() {
    const steps = arr("steps").data;
    const hs = histSteps();
    if (!steps.length || !hs.length) return;
    const s = hs[slider.get()] ?? hs[hs.length - 1];
    const first = steps[0];
    const span = Math.max(1, steps[steps.length - 1] - first + 1);
    historyCursor.style.left = `${((s - first + 0.5) / span) * 100}%`;
  }

  function drawMetrics() {
    const steps = arr("steps").data;
    const series = Object.entries(model.get("metrics")).map(([name, p], i) => ({
      x: steps, y: fromPayload(p).data, label: name, color: METRIC_COLORS[i % METRIC_COLORS.length], width: 1.4,
    }));
    const hs = histSteps();
    metrics.draw({ series, x: { label: "step" }, cursor: hs[slider.get()] });
  }

  function drawStep() {
    const names = layers();
    const hs = histSteps();
    if (!hs.length) return;
    const i = Math.min(slider.get(), hs.length - 1);
    const axisSpec = signedLogTicks(model.get("hist_axis"));
    const mapTicks = signedLogTicks(model.get("hist_axis"), [-4, 0]); // fewer labels on the narrow maps
    const fit = { width: 220, height: mapHeight() };
    for (const [map, trait, labels, axis] of [[weights, "param_hist", weightLabels, weightAxis], [grads, "grad_hist", gradLabels, gradAxis]]) {
      const counts = take(fromPayload(model.get(trait)), i);
      const share = Float32Array.from(counts.data, (v) => v / 255);
      map.draw({ map: { data: share, shape: counts.shape }, lut: greys, sign: "positive", clip: 100, fit });
      labels.style.height = `${fit.height}px`;
      labels.replaceChildren(...rowLabels(names, layer, pickLayer));
      axis.style.width = `${fit.width}px`;
      axis.replaceChildren(
        ...mapTicks.ticks.map((t) => h("span", { text: t.label, style: { left: `${(t.value / mapTicks.bins) * 100}%` } })),
      );
    }
    const j = Math.max(0, names.indexOf(layer));
    const bins = axisSpec.bins;
    const xs = Array.from({ length: bins }, (_, b) => b + 0.5);
    const row = (trait) => {
      const counts = take(take(fromPayload(model.get(trait)), i), j).data;
      return Float32Array.from(counts, (v) => (v / 255) ** 2); // undo the sqrt scaling: shares
    };
    const [wRow, gRow] = [row("param_hist"), row("grad_hist")];
    layerChart.draw({
      title: `${names[j] ?? ""} at step ${hs[i]}`,
      series: [
        { x: xs, y: wRow, label: "weights", color: "#1971c2", width: 1.6 },
        { x: xs, y: gRow, label: "gradients", color: "#e8590c", width: 1.6 },
      ],
      x: { min: 0, max: bins, ticks: axisSpec.ticks, label: "value (signed, log-spaced bins)" },
      y: { min: 0, max: 1.6 * Math.max(1e-6, ...wRow, ...gRow), label: "share of values" },
      legendLeft: true,
    });
    placeCursor();
    drawMetrics();
  }

  function drawDiagnoses() {
    const items = model.get("diagnoses").map((d) =>
      h("li", { className: d.severity === "error" ? "jv-error-item" : "", dataset: { kind: d.kind } }, [
        h("b", { text: d.title.charAt(0).toUpperCase() + d.title.slice(1) }),
        h("span", { className: "jv-flow-layers", text: d.layers.join(", ") }),
        h("div", { text: `${d.layers.length > 1 ? d.layers[0] + ": " : ""}${d.evidence[0]}.` }),
        h("div", { className: "jv-flow-try", text: `Try: ${d.suggestion}.` }),
      ]),
    );
    diagnoses.replaceChildren(...(items.length ? items : [h("li", { className: "jv-ok", text: "No problems found in the recent steps." })]));
  }

  function update() {
    const names = layers();
    const hs = histSteps();
    const steps = arr("steps").data;
    if (layer === null || !names.includes(layer)) layer = names[0] ?? null;
    layerSelect.setOptions(names.map((n) => ({ value: n, label: n })));
    if (layer) layerSelect.set(layer);
    slider.setRange({ min: 0, max: Math.max(0, hs.length - 1) });
    // Following: stay on the newest step. Otherwise keep the chosen step (the spread of steps
    // with histograms changes as training goes on).
    slider.set(follow ? Math.max(0, hs.length - 1) : nearestIndex(hs, model.get("step")));
    status.textContent = steps.length
      ? `step ${steps[steps.length - 1]} · ${steps.length} steps kept · ${names.length} layers`
      : "waiting for recorder.add(...)";
    drawHistory();
    drawStep();
    drawDiagnoses();
  }

  model.on("change:pushes", update);
  update();
  return () => model.off("change:pushes", update);
}

export default { render };
