// ModelView: the model's layers in forward order as a table; choosing a row shows that layer's
// activation statistics and histogram for the batch (all layers' statistics are sent up front).
import "../lib/theme.css";
import "../lib/flow.css";
import { createChart } from "../lib/chart.js";
import { formatNumber, h, isolateKeys } from "../lib/dom.js";
import { fromPayload } from "../lib/ndarray.js";

function render({ model, el }) {
  const root = h("div", { className: "jaxviz-root jaxviz-model-view" });
  isolateKeys(root);
  el.append(root);
  const rows = model.get("rows");
  const total = rows.reduce((a, r) => a + r.param_count, 0);
  const body = h("tbody");
  const table = h("table", { className: "jv-flow-table", dataset: { role: "layers" } }, [
    h("thead", {}, [h("tr", {}, ["layer", "type", "output shape", "params", "dtype"].map((t) => h("th", { text: t })))]),
    body,
  ]);
  const stats = h("div", { className: "jv-flow-stats", dataset: { role: "stats" } });
  const chart = createChart({ role: "activation-histogram", width: 320, height: 190, label: "activation histogram" });
  const trs = rows.map((r) => {
    const tr = h("tr", { className: "jv-layer-row", attrs: { tabindex: 0, "aria-selected": "false" }, dataset: { control: "layer", layer: r.name } }, [
      h("td", { text: r.name }),
      h("td", { text: r.type }),
      h("td", { text: r.output_shape.join("×") }),
      h("td", { text: r.param_count.toLocaleString("en-US") }),
      h("td", { text: r.dtype }),
    ]);
    const pick = () => {
      model.set("layer", r.name);
      model.save_changes();
      show();
    };
    tr.addEventListener("click", pick);
    tr.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") pick();
      if (e.key === "ArrowDown") tr.nextSibling?.focus();
      if (e.key === "ArrowUp") tr.previousSibling?.focus();
    });
    return tr;
  });
  body.append(...trs);
  root.append(
    h("div", { className: "jv-flow-title" }, [
      h("span", { text: "Model structure" }),
      h("span", { className: "jv-flow-sub", text: `${rows.length} layers · ${total.toLocaleString("en-US")} parameters (a module's count includes its sublayers)` }),
    ]),
    h("div", { className: "jv-flow-row" }, [table, h("div", { className: "jv-flow-panel" }, [chart.el, stats])]),
  );

  function show() {
    const name = model.get("layer");
    const r = rows.find((row) => row.name === name) ?? rows[0];
    for (const tr of trs) tr.setAttribute("aria-selected", String(tr.dataset.layer === r.name));
    const counts = fromPayload(r.histogram).data;
    const bins = counts.length;
    const lo = r.min ?? 0;
    const hi = r.max > r.min ? r.max : lo + 1;
    const centres = Array.from({ length: bins }, (_, i) => lo + ((i + 0.5) * (hi - lo)) / bins);
    chart.draw({
      title: `${r.name}: activations for this batch`,
      series: [{ x: centres, y: counts, kind: "bar", color: "#4e79a7", barWidth: Math.max(1, 260 / bins - 1), alpha: 0.85 }],
      x: { min: lo, max: hi, label: "value" },
      y: { min: 0, label: "count" },
    });
    const f = (v) => (v === null ? "-" : formatNumber(v));
    stats.replaceChildren(
      ...[["mean", f(r.mean)], ["std", f(r.std)], ["min", f(r.min)], ["max", f(r.max)], ["exactly zero", `${(100 * r.zero_fraction).toFixed(1)}%`], ["parameter dtype", r.param_dtype]].flatMap(
        ([k, v]) => [h("span", { text: k }), h("span", { text: v })],
      ),
    );
  }
  model.on("change:layer", show);
  show();
}

export default { render };
