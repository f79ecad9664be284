// jv.RNNView's front end: the chosen state (hidden, cell or a gate) as a units x time heat map
// with a time slider, the state vector at that step, and ||dh_T/dh_t|| over time (log scale by
// default): where it falls off, the final state has forgotten those steps. All examples' states
// were sent once, so nothing here asks the kernel.
import "../lib/theme.css";
import "./rnn.css";
import { createChart } from "../lib/chart.js";
import { lutFromPayload } from "../lib/colormap.js";
import { createSelect, createSlider, createToggle } from "../lib/controls.js";
import { formatNumber, h, isolateKeys } from "../lib/dom.js";
import { createColorbar, createTooltip } from "../lib/feedback.js";
import { createHeatmap } from "../lib/heatmap.js";
import { fromPayload, take } from "../lib/ndarray.js";
import { announceRendered } from "../lib/sync.js";

const CELL_W = 22;
const CELL_H = 8;
const WORDS_UP_TO = 60;

/** The first `time` steps of one example's (steps, units) states as (units, time), the heat
 * map's orientation. */
export function unitsByTime(states, time = states.shape[0]) {
  const units = states.shape[1];
  const out = new Float32Array(time * units);
  for (let t = 0; t < time; t++) for (let u = 0; u < units; u++) out[u * time + t] = states.data[t * units + u];
  return { data: out, shape: [units, time] };
}

function render({ model, el }) {
  const data = model.get("_data");
  const luts = { sequential: lutFromPayload(data.luts.sequential), diverging: lutFromPayload(data.luts.diverging) };
  const states = Object.fromEntries(Object.entries(data.states).map(([k, p]) => [k, fromPayload(p)]));
  const norms = fromPayload(data.gradient_norms);
  const { units } = data;
  const lengths = data.lengths; // trailing padding cut off per example
  const root = h("div", { className: "jaxviz-root jaxviz-rnn" });
  isolateKeys(root);
  el.replaceChildren(root);
  const tooltip = createTooltip(root);
  const get = (name) => model.get(name);
  const set = (name, value) => {
    model.set(name, value);
    model.save_changes();
    draw();
  };

  const indexSlider = createSlider({ name: "index", label: "example", min: 0, max: Math.max(0, data.examples - 1), value: get("index"), format: (v) => `${v} / ${data.examples - 1}`, onInput: (v) => set("index", v) });
  indexSlider.el.hidden = data.examples < 2;
  const stateSelect = createSelect({ name: "state", label: "state", options: Object.keys(states).map((k) => ({ value: k, label: k === "hidden" || k === "cell" ? `${k} state` : `${k} gate` })), value: get("state"), onChange: (v) => set("state", v) });
  const stepSlider = createSlider({ name: "step", label: "time step", min: 0, max: lengths[get("index")] - 1, value: get("step"), format: (v) => `${v} / ${lengths[get("index")] - 1}`, onInput: (v) => set("step", v) });
  const logToggle = createToggle({ name: "log", label: "gradient scale", options: [{ value: "log", label: "log" }, { value: "linear", label: "linear" }], value: get("log") ? "log" : "linear", onChange: (v) => set("log", v === "log") });

  const longest = Math.max(...lengths);
  const width = Math.max(360, Math.min(900, longest * CELL_W));
  const height = Math.max(120, Math.min(420, units * CELL_H));
  const heat = createHeatmap({ role: "states", size: width, label: "states over time" });
  const cursor = h("div", { className: "jv-rnn-cursor", style: { height: `${height}px` } });
  const words = h("div", { className: "jv-rnn-words", style: { width: `${width}px` } });
  const mapBox = h("div", { className: "jv-rnn-map" }, [heat.el, cursor]);
  const colorbar = createColorbar({ width: 220 });
  const vector = createChart({ role: "vector", width: 300, height: 200, label: "state at the chosen step" });
  const curve = createChart({ role: "gradient-norms", width: Math.max(560, Math.min(900, longest * 48)), height: 220, label: "gradient of the final state" });
  const caption = h("div", { className: "jv-rnn-caption", dataset: { role: "caption" } });
  root.append(
    h("div", { className: "jv-rnn-header" }, [h("span", { className: "jv-title", text: "Recurrent states" }), caption]),
    h("div", { className: "jv-rnn-controls" }, [indexSlider.el, stateSelect.el, stepSlider.el, logToggle.el]),
    h("div", { className: "jv-rnn-main" }, [h("div", {}, [mapBox, words]), h("div", { className: "jv-rnn-side" }, [colorbar.el, vector.el])]),
    curve.el,
  );

  heat.el.addEventListener("mousemove", (event) => {
    const v = heat.valueAt(event);
    if (!v) return tooltip.hide();
    const word = data.words ? ` ${data.words[get("index")][v.col]}` : "";
    tooltip.show(`unit ${v.row}, step ${v.col}${word}\n${get("state")} ${formatNumber(v.value)}`, event.clientX, event.clientY);
  });
  heat.el.addEventListener("mouseleave", () => tooltip.hide());
  heat.el.addEventListener("click", (event) => {
    const v = heat.valueAt(event);
    if (v) {
      stepSlider.set(v.col);
      set("step", v.col);
    }
  });

  function draw() {
    const index = get("index");
    const time = lengths[index];
    if (get("step") > time - 1) {
      model.set("step", time - 1); // this example is shorter: its last step
      model.save_changes();
    }
    const step = Math.min(get("step"), time - 1);
    stepSlider.setRange({ max: time - 1 });
    stepSlider.set(step);
    const kind = get("state");
    const signed = data.signed[kind];
    const lut = signed ? luts.diverging : luts.sequential;
    const sign = signed ? "all" : "absolute";
    const map = unitsByTime(take(states[kind], index), time);
    const scale = heat.draw({ map, lut, sign, clip: 100, fit: { width, height } });
    colorbar.update({ lut, sign, scale, caption: `${kind} value (units × time)` });
    cursor.style.left = `${((step + 0.5) / time) * width - 1}px`;
    const tokens = data.words?.[index]?.slice(0, time);
    if (tokens && time <= WORDS_UP_TO) {
      words.hidden = false;
      words.replaceChildren(...tokens.map((w, t) => h("span", { className: `jv-rnn-word${t === step ? " jv-current" : ""}`, text: w, style: { left: `${((t + 0.3) / time) * width}px` } })));
    } else words.hidden = true;
    const column = Array.from({ length: units }, (_, u) => map.data[u * time + step]);
    vector.draw({
      series: [{ x: column.map((_, u) => u), y: column, kind: "bar", color: "#0072B2", alpha: 0.8 }],
      x: { min: 0, max: units - 1, pad: 0.6, label: "unit" },
      y: signed ? { min: -Math.max(scale, 1e-6), max: Math.max(scale, 1e-6), label: kind } : { min: 0, max: Math.max(scale, 1e-6), label: kind },
      title: `${kind} at step ${step}${tokens ? ` (${tokens[step]})` : ""}`,
    });
    const g = Array.from(take(norms, index).data.subarray(0, time));
    const log = get("log") && g.every((v) => v > 0);
    curve.draw({
      series: [{ x: g.map((_, t) => t), y: g, color: "#D55E00", markers: true, width: 2, label: `‖dh_T/dh_t‖ (${data.norm})` }],
      x: { min: 0, max: time - 1, pad: 0.5, label: "time step t", ticks: tokens && time <= WORDS_UP_TO ? tokens.map((w, t) => ({ value: t, label: w })) : undefined },
      y: { log, label: log ? "gradient norm (log)" : "gradient norm" },
      cursor: step,
      title: "how much the final state depends on the state at step t",
      legendLeft: true,
    });
    const ratio = g[0] > 0 && g[time - 1] > 0 ? g[0] / g[time - 1] : NaN;
    const cut = data.time > time ? ` (padding after step ${time - 1} left out)` : "";
    caption.textContent = `example ${index}: ${time} steps${cut}, ${units} units · ‖dh_T/dh_0‖ = ${formatNumber(g[0])}${Number.isFinite(ratio) ? ` (${formatNumber(ratio)}× the last step's)` : ""}`;
    root.dataset.index = String(index);
    root.dataset.step = String(step);
    root.dataset.state = kind;
    root.dataset.drawn = String(Number(root.dataset.drawn ?? 0) + 1);
  }

  const controls = { index: indexSlider, step: stepSlider, state: stateSelect };
  const listeners = Object.entries(controls).map(([name, control]) => {
    const cb = () => {
      control.set(get(name));
      draw();
    };
    model.on(`change:${name}`, cb);
    return [name, cb];
  });
  const onLog = () => {
    logToggle.set(get("log") ? "log" : "linear");
    draw();
  };
  model.on("change:log", onLog);
  draw();
  announceRendered(model);
  return () => {
    for (const [name, cb] of listeners) model.off(`change:${name}`, cb);
    model.off("change:log", onLog);
  };
}

export default { render };
