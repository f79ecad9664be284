// FlowMonitor: live training view of one or several runs. Everything arrives from the kernel in one
// push (every run's curves and run-table row; for the focused run the layers x steps history,
// histograms and percentile bands for a spread of steps, diagnoses); smoothing, scale, the run
// checkboxes, the step slider, layer choice and heat-map field all work in the browser, so they
// work while training keeps the kernel busy. Choosing another run to detail asks the kernel.
import "../lib/theme.css";
import "../lib/flow.css";
import { createChart } from "../lib/chart.js";
import { lutFromPayload } from "../lib/colormap.js";
import { createSelect, createSlider, createToggle } from "../lib/controls.js";
import { formatNumber, h, isolateKeys } from "../lib/dom.js";
import { createColorbar } from "../lib/feedback.js";
import { nearestIndex, resampleColumns, signedLogTicks, smooth, unitScale } from "../lib/flow.js";
import { createHeatmap } from "../lib/heatmap.js";
import { fromPayload, take } from "../lib/ndarray.js";

const HISTORY_COLS = 320;
const MAX_METRIC_PANELS = 4;
const BAND_PAIRS = [[0, 8, 0.14], [1, 7, 0.22], [2, 6, 0.32], [3, 5, 0.45]]; // outer bands lighter
const DISTRIBUTION_KINDS = ["weights", "gradients", "activations"];

/** Metric names over every run (training and validation), loss first. */
function metricNames(runs) {
  const names = new Set();
  for (const r of runs) for (const n of [...Object.keys(r.metrics), ...Object.keys(r.validation)]) names.add(n);
  return [...names].sort((a, b) => (a !== "loss") - (b !== "loss") || a.localeCompare(b));
}

/** Ticks of the folded |value| bins: bin 0 holds |v| < 10^min_exp, then bins_per_decade a decade. */
function magnitudeTicks({ min_exp, max_exp, bins_per_decade }) {
  const ticks = [{ value: 0.5, label: "0" }];
  for (let e = min_exp + 2; e <= max_exp; e += 2) ticks.push({ value: 1 + (e - min_exp) * bins_per_decade, label: e === 0 ? "1" : `1e${e}` });
  return { bins: 1 + (max_exp - min_exp) * bins_per_decade, ticks };
}

function finalText(v) {
  return v === null || v === undefined ? "-" : formatNumber(v);
}

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

  let hidden = new Set(model.get("hidden"));
  let distKind = "weights";
  let distValues = "magnitude";
  const metricPanels = h("div", { className: "jv-flow-row", dataset: { role: "metrics" } });
  const smoothing = createSlider({
    name: "smoothing", label: "smoothing", min: 0, max: 0.99, step: 0.01, value: model.get("smoothing"),
    format: (v) => v.toFixed(2),
    onInput: (v) => {
      model.set("smoothing", v);
      model.save_changes();
      drawMetrics();
    },
  });
  const scale = createToggle({
    name: "scale", label: "y scale",
    options: [{ value: "linear", label: "linear" }, { value: "log", label: "log" }],
    value: model.get("log_scale") ? "log" : "linear",
    onChange: (v) => {
      model.set("log_scale", v === "log");
      model.save_changes();
      drawMetrics();
    },
  });
  const runTable = h("table", { className: "jv-flow-table jv-run-table", dataset: { role: "run-table" } });
  const focusTitle = h("div", { className: "jv-flow-title" });
  const distToggle = createToggle({
    name: "distribution", label: "distribution of",
    options: DISTRIBUTION_KINDS.map((k) => ({ value: k, label: k })),
    value: distKind,
    onChange: (v) => {
      distKind = v;
      drawDistribution();
    },
  });
  const valuesToggle = createToggle({
    name: "distribution-values", label: "values",
    options: [{ value: "magnitude", label: "|value| (log)" }, { value: "signed", label: "signed (log)" }],
    value: distValues,
    onChange: (v) => {
      distValues = v;
      drawDistribution();
    },
  });
  const distChart = createChart({ role: "distributions", width: 420, height: 220, label: "distribution over time" });
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
    h("div", { className: "jv-flow-row" }, [smoothing.el, scale.el, h("span", { className: "jv-flow-note", text: "solid: training (smoothed; raw faint) · dashed: validation" })]),
    metricPanels,
    h("div", { className: "jv-flow-caption", text: "runs (tick to show on the charts; click a name to detail it below)" }),
    runTable,
    focusTitle,
    h("div", { className: "jv-flow-row" }, [
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
    h("div", { className: "jv-flow-panel" }, [
      h("div", { className: "jv-flow-caption", text: "distributions over time (TensorBoard's bands: min, ±1.5σ, ±1σ, ±0.5σ percentiles, median)" }),
      h("div", { className: "jv-flow-row" }, [distToggle.el, valuesToggle.el]),
      distChart.el,
    ]),
    h("div", { className: "jv-flow-caption", text: "diagnoses" }),
    diagnoses,
  );


  function pickLayer(name) {
    layer = name;
    layerSelect.set(name);
    model.set("layer", name);
    model.save_changes();
    drawStep();
    drawDistribution();
  }

  function goToStep(step) {
    const hs = histSteps();
    const i = nearestIndex(hs, step);
    follow = i >= hs.length - 1;
    slider.set(i);
    model.set("step", follow ? -1 : hs[i]);
    model.save_changes();
    drawStep();
  }

  function drawRunTable() {
    const runs = model.get("runs");
    const hp = [...new Set(runs.flatMap((r) => Object.keys(r.hparams)))];
    const fin = [...new Set(runs.flatMap((r) => Object.keys(r.final)))];
    const head = h("tr", {}, ["show", "run", ...hp, "steps", ...fin.map((k) => `final ${k}`)].map((t) => h("th", { text: t })));
    const rows = runs.map((r) => {
      const box = h("input", { attrs: { type: "checkbox", "aria-label": `show ${r.name}` }, dataset: { control: "run-toggle", run: r.name } });
      box.checked = !hidden.has(r.name);
      box.addEventListener("change", () => {
        if (box.checked) hidden.delete(r.name);
        else hidden.add(r.name);
        model.set("hidden", [...hidden]);
        model.save_changes();
        drawMetrics();
      });
      const name = h("span", { className: "jv-run-name", text: r.name, dataset: { control: "run-focus", run: r.name } });
      name.addEventListener("click", () => {
        model.set("selected_run", r.name);
        model.save_changes();
      });
      const swatch = h("span", { className: "jv-run-swatch", style: { background: r.color } });
      const tr = h("tr", { attrs: { "aria-selected": String(r.name === model.get("selected_run")) }, dataset: { run: r.name } }, [
        h("td", {}, [box]),
        h("td", {}, [swatch, name]),
        ...hp.map((k) => h("td", { text: r.hparams[k] === undefined ? "-" : String(r.hparams[k]) })),
        h("td", { text: String(r.step_count) }),
        ...fin.map((k) => h("td", { text: finalText(r.final[k]) })),
      ]);
      return tr;
    });
    runTable.replaceChildren(head, ...rows);
    focusTitle.replaceChildren(h("span", { text: `Run ${model.get("selected_run")}: per layer` }));
  }

  function drawDistribution() {
    const dists = model.get("distributions");
    for (const b of distToggle.input.querySelectorAll("button")) b.disabled = !dists[b.dataset.value];
    if (!dists[distKind]) distKind = "weights";
    distToggle.set(distKind);
    const entry = dists[distKind];
    const hs = histSteps();
    if (!entry || !hs.length) return;
    const names = entry.names;
    // activations are named by the user; fall back to the first when the layer has none
    const j = Math.max(0, names.indexOf(layer));
    const magnitude = distValues === "magnitude";
    const bands = take(fromPayload(magnitude ? entry.magnitude : entry.data), j); // (steps, 9)
    const col = (k) => Float64Array.from(hs, (_, i) => bands.data[i * 9 + k]);
    const color = (model.get("runs").find((r) => r.name === model.get("selected_run")) ?? {}).color ?? "#1971c2";
    const axisSpec = magnitude ? magnitudeTicks(model.get("hist_axis")) : signedLogTicks(model.get("hist_axis"));
    distChart.draw({
      title: `${distKind} of ${names[j]} (run ${model.get("selected_run")})`,
      series: [
        ...BAND_PAIRS.map(([lo, hi, alpha]) => ({ kind: "area", x: hs, y: col(lo), y2: col(hi), color, alpha })),
        { x: hs, y: col(4), color, width: 1.6, label: "median" },
      ],
      x: { label: "step" },
      y: { min: 0, max: axisSpec.bins, label: magnitude ? "|value| (log)" : "value (signed log)", ticks: axisSpec.ticks },
      cursor: hs[slider.get()],
    });
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
    const runs = model.get("runs").filter((r) => !hidden.has(r.name));
    const weight = model.get("smoothing");
    const log = model.get("log_scale");
    const names = metricNames(model.get("runs")).slice(0, MAX_METRIC_PANELS);
    const focused = model.get("runs").find((r) => r.name === model.get("selected_run"));
    const cursorStep = focused && focused.name === model.get("selected_run") ? histSteps()[slider.get()] : undefined;
    const charts = names.map((name) => {
      const chart = createChart({ role: `metric-${name}`, width: 340, height: 220, label: `${name} per step` });
      const series = [];
      for (const r of runs) {
        const steps = fromPayload(r.steps).data;
        if (r.metrics[name]) {
          const y = fromPayload(r.metrics[name]).data;
          if (weight > 0) series.push({ x: steps, y, color: r.color, width: 1, alpha: 0.3, faint: true });
          series.push({ x: steps, y: smooth(y, weight), color: r.color, width: 1.6, label: r.name });
        }
        if (r.validation[name]) {
          const v = r.validation[name];
          series.push({ x: fromPayload(v.steps).data, y: fromPayload(v.values).data, color: r.color, width: 1.4, dash: true, markers: true, label: r.metrics[name] ? undefined : r.name });
        }
      }
      chart.draw({ title: name, series, x: { label: "step" }, y: { label: name, log }, cursor: cursorStep });
      return h("div", { className: "jv-flow-panel" }, [chart.el]);
    });
    metricPanels.replaceChildren(...charts);
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
    drawDistribution();
  }

  function drawDiagnoses() {
    const items = model.get("diagnoses").map((d) =>
      h("li", { className: d.severity === "error" ? "jv-error-item" : "", dataset: { kind: d.kind } }, [
        h("b", { text: d.title.charAt(0).toUpperCase() + d.title.slice(1) }),
        h("span", { className: "jv-flow-layers", text: d.layers.join(", ") }),
        h("div", { text: `${d.layers.length > 1 ? d.layers[0] + ": " : ""}${d.evidence[0]}.` }),
        h("div", { className: "jv-flow-try", text: `Try: ${d.suggestion}.` }),
        h("div", { className: "jv-flow-links" }, (d.links ?? []).slice(0, 8).map((link) => {
          const b = h("button", { className: "jv-link-button", text: `${link.layer} @ step ${link.step}`, attrs: { type: "button" }, dataset: { role: "diagnosis-link", layer: link.layer, step: String(link.step) } });
          b.addEventListener("click", () => {
            pickLayer(link.layer);
            goToStep(link.step);
          });
          return b;
        })),
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
    hidden = new Set(model.get("hidden"));
    drawRunTable();
    drawHistory();
    drawStep();
    drawDiagnoses();
  }

  model.on("change:pushes", update);
  update();
  return () => model.off("change:pushes", update);
}

export default { render };
