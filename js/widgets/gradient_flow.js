// GradientFlowView: gradient size per layer along the network, from the output (left) back to the
// input (right), log scale; vanishing/exploding layers ringed and named; hover for the numbers.
import "../lib/theme.css";
import "../lib/flow.css";
import { createChart } from "../lib/chart.js";
import { formatNumber, h } from "../lib/dom.js";
import { createTooltip } from "../lib/feedback.js";

export const FLAG_COLORS = { vanishing: "#1971c2", exploding: "#e03131" };

function render({ model, el }) {
  const root = h("div", { className: "jaxviz-root jaxviz-gradient-flow" });
  el.append(root);
  const flow = model.get("flow");
  const n = flow.layers.length;
  const order = [...flow.layers.keys()].reverse(); // output first
  const chart = createChart({ role: "gradient-flow", width: Math.max(420, 60 * n + 120), height: 280, label: "gradient flow" });
  const tooltip = createTooltip(root);
  const flagged = flow.flags.filter(Boolean).length;
  root.append(
    h("div", { className: "jv-flow-title" }, [
      h("span", { text: "Gradient flow" }),
      h("span", { className: "jv-flow-sub", text: `of the ${flow.objective}` }),
    ]),
    chart.el,
    h("div", { className: "jv-flow-note", dataset: { role: "summary" }, text: flagged
      ? `${flagged} layer(s) flagged: a layer is vanishing (exploding) when its output gradient is over 100x smaller (larger) than a later layer's.`
      : "No layer's gradient is 100x smaller or larger than a later layer's." }),
  );
  const pos = order.map((_, k) => k);
  const y = (key) => order.map((i) => flow[key][i] ?? NaN);
  const geometry = chart.draw({
    series: [
      { x: pos, y: y("param_grad_rms"), kind: "bar", color: "#f28e2b", label: "parameter gradient (RMS)", alpha: 0.55 },
      { x: pos, y: y("output_grad_rms"), color: "#343a40", label: "gradient at layer output (RMS)", markers: true, width: 2 },
    ],
    x: { min: 0, max: n - 1, pad: 0.6, ticks: order.map((i, k) => ({ value: k, label: flow.layers[i] })), label: "layer: output → input (the way the gradient flows)" },
    y: { log: true, label: "gradient magnitude" },
    marks: order.flatMap((i, k) => (flow.flags[i] ? [{ x: k, y: flow.output_grad_rms[i], color: FLAG_COLORS[flow.flags[i]], text: flow.flags[i] }] : [])),
  });
  chart.el.addEventListener("mousemove", (event) => {
    const rect = chart.el.getBoundingClientRect();
    const px = event.clientX - rect.left;
    let best = -1;
    let dist = Infinity;
    for (const k of pos) if (Math.abs(geometry.X(k) - px) < dist) [best, dist] = [k, Math.abs(geometry.X(k) - px)];
    if (best < 0 || dist > 30) return tooltip.hide();
    const i = order[best];
    const lines = [
      `${flow.layers[i]}  output ${flow.shapes[i].join("×")}`,
      `output gradient RMS ${formatNumber(flow.output_grad_rms[i] ?? NaN)}`,
      flow.param_count[i] ? `parameter gradient RMS ${formatNumber(flow.param_grad_rms[i] ?? NaN)} (${flow.param_count[i]} params)` : "no parameters",
    ];
    if (flow.flags[i]) lines.push(flow.flags[i]);
    tooltip.show(lines.join("\n"), event.clientX, event.clientY);
  });
  chart.el.addEventListener("mouseleave", () => tooltip.hide());
}

export default { render };
