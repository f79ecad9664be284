// FunctionExplorer: an activation or loss and its derivative (computed in Python by jax.grad for
// every value of the parameter's slider, sent once), with flat regions (|f'| < 10% of its peak)
// shaded: sigmoid/tanh saturation, ReLU's dead side, a hinge beyond its margin.
import "../lib/theme.css";
import "../lib/flow.css";
import { createChart } from "../lib/chart.js";
import { createSelect, createSlider } from "../lib/controls.js";
import { h, isolateKeys } from "../lib/dom.js";
import { fromPayload, take } from "../lib/ndarray.js";

function spans(x, flat) {
  const out = [];
  let start = -1;
  for (let i = 0; i <= flat.length; i++) {
    if (i < flat.length && flat[i]) {
      if (start < 0) start = i;
    } else if (start >= 0) {
      out.push({ x0: x[start], x1: x[i - 1], color: "rgba(134, 142, 150, 0.22)", label: "flat: |f′| < 10% of peak" });
      start = -1;
    }
  }
  return out;
}

function render({ model, el }) {
  const root = h("div", { className: "jaxviz-root jaxviz-function-explorer" });
  isolateKeys(root);
  el.append(root);
  const functions = model.get("functions");
  const x = fromPayload(model.get("x")).data;
  const names = Object.keys(functions);
  const chart = createChart({ role: "function", width: 560, height: 300, label: "function and derivative" });
  const formula = h("div", { className: "jv-flow-note", dataset: { role: "formula" } });
  const select = createSelect({
    name: "function",
    label: "function",
    options: [
      ...names.filter((n) => functions[n].kind === "activation").map((n) => ({ value: n, label: `activation: ${n}` })),
      ...names.filter((n) => functions[n].kind === "loss").map((n) => ({ value: n, label: `loss: ${n}` })),
    ],
    value: model.get("function"),
    onChange: (v) => {
      const spec = functions[v];
      model.set("function", v);
      if (spec.param) model.set("param", spec.default);
      model.save_changes();
      draw();
    },
  });
  const slider = createSlider({
    name: "param", label: "parameter", min: 0, max: 0, value: 0,
    onInput: (i) => {
      model.set("param", functions[model.get("function")].grid[i]);
      model.save_changes();
      draw();
    },
    format: (i) => String(functions[model.get("function")]?.grid[i] ?? ""),
  });
  root.append(
    h("div", { className: "jv-flow-title" }, [h("span", { text: "Function explorer" }), h("span", { className: "jv-flow-sub", text: "derivatives by jax.grad" })]),
    h("div", { className: "jv-flow-row" }, [select.el, slider.el]),
    chart.el,
    formula,
  );

  function draw() {
    const name = model.get("function");
    const spec = functions[name];
    const grid = spec.grid;
    let row = 0;
    if (spec.param) {
      row = grid.reduce((best, g, k) => (Math.abs(g - model.get("param")) < Math.abs(grid[best] - model.get("param")) ? k : best), 0);
      slider.setRange({ min: 0, max: grid.length - 1 });
      slider.set(row);
      slider.el.querySelector(".jv-label").textContent = spec.param;
    }
    slider.el.style.display = spec.param ? "" : "none"; // .jv-field's display beats [hidden]
    const value = take(fromPayload(spec.value), row).data;
    const derivative = take(fromPayload(spec.derivative), row).data;
    const flat = take(fromPayload(spec.flat), row).data;
    chart.draw({
      title: spec.param ? `${name}(${spec.param} = ${grid[row]})` : name,
      series: [
        { x, y: value, color: "#1971c2", label: name, width: 2.2 },
        { x, y: derivative, color: "#e03131", label: "derivative (jax.grad)", dash: true, width: 1.8 },
      ],
      x: { label: spec.x_label },
      bands: spans(x, flat),
      legendLeft: true,
    });
    formula.textContent = spec.formula;
  }
  model.on("change:function", draw);
  model.on("change:param", draw);
  draw();
}

export default { render };
