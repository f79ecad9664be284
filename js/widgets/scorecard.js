// jv.Scorecard: methods x metrics, each cell the mean score coloured by its comparison with random
// attributions; hovering a cell shows its 95% CI and the baseline; clicking a metric sorts by it.
// Everything arrives at once; sorting and hovering never ask the kernel.
import "../lib/theme.css";
import "../lib/trust.css";
import { formatNumber, h, isolateKeys } from "../lib/dom.js";
import { createTooltip } from "../lib/feedback.js";
import { sortedRows, verdictClass } from "../lib/trust.js";

function cellText(cell) {
  const lines = [`mean ${formatNumber(cell.score)}`, `95% CI [${formatNumber(cell.ci[0])}, ${formatNumber(cell.ci[1])}]`];
  if (cell.baseline !== null) lines.push(`random attributions: ${formatNumber(cell.baseline)}`);
  if (cell.difference_ci) lines.push(`difference from random, 95% CI [${formatNumber(cell.difference_ci[0])}, ${formatNumber(cell.difference_ci[1])}]`);
  lines.push(cell.verdict_text);
  return lines.join("\n");
}

function render({ model, el }) {
  const root = h("div", { className: "jaxviz-root jaxviz-scorecard" });
  isolateKeys(root);
  el.append(root);
  const table = model.get("table");
  const metrics = table.metrics;
  const tooltip = createTooltip(root);
  const grid = h("table", { className: "jv-scorecard", dataset: { role: "scorecard" } });
  root.append(
    h("div", { className: "jv-trust-title" }, [h("span", { text: "Scorecard" }), h("span", { className: "jv-trust-sub", text: `${table.methods.length} methods × ${metrics.length} metrics · click a metric to sort` })]),
    grid,
    h("div", { className: "jv-legend" }, [
      h("span", {}, [h("span", { className: "jv-swatch jv-better" }), document.createTextNode("beats random")]),
      h("span", {}, [h("span", { className: "jv-swatch", style: { background: "var(--jv-neutral)" } }), document.createTextNode("not different / no baseline")]),
      h("span", {}, [h("span", { className: "jv-swatch jv-worse" }), document.createTextNode("worse than random")]),
      h("span", { text: "(95% CI of the paired difference)" }),
    ]),
  );

  // The tooltip beside the pointer, flipped left or up where it would leave the widget (a
  // notebook's output area clips what overflows).
  function showInside(text, e) {
    tooltip.show(text, e.clientX, e.clientY);
    const box = root.getBoundingClientRect();
    const tip = tooltip.el;
    if (e.clientX - box.left + 12 + tip.offsetWidth > box.width) tip.style.left = `${Math.max(0, e.clientX - box.left - 12 - tip.offsetWidth)}px`;
    if (e.clientY - box.top + 12 + tip.offsetHeight > box.height) tip.style.top = `${Math.max(0, e.clientY - box.top - 12 - tip.offsetHeight)}px`;
  }

  function draw() {
    const sortBy = model.get("sort_by");
    const column = metrics.findIndex((m) => m.name === sortBy);
    const order = sortedRows(table.cells, column, column >= 0 && metrics[column].higher_is_better);
    const head = h("tr", {}, [
      h("th", { className: "jv-method", text: "method" }),
      ...metrics.map((m, j) => {
        const th = h("th", { className: "jv-sortable", dataset: { control: "sort", metric: m.name }, attrs: { scope: "col", tabindex: 0, "aria-sort": j === column ? "descending" : "none", title: `sort by ${m.name}, best first` } }, [
          document.createTextNode(m.name),
          h("span", { className: "jv-direction", text: m.higher_is_better ? "↑ higher is better" : "↓ lower is better" }),
        ]);
        const choose = () => {
          model.set("sort_by", sortBy === m.name ? "" : m.name);
          model.save_changes();
        };
        th.addEventListener("click", choose);
        th.addEventListener("keydown", (e) => (e.key === "Enter" || e.key === " ") && choose());
        return th;
      }),
    ]);
    const rows = order.map((i) =>
      h("tr", { dataset: { method: table.methods[i] } }, [
        h("th", { className: "jv-method", text: table.methods[i], attrs: { scope: "row" } }),
        ...table.cells[i].map((cell, j) => {
          const td = h("td", { className: `jv-${verdictClass(cell.verdict)}`, dataset: { role: "cell", metric: metrics[j].name, verdict: cell.verdict } }, [
            h("span", { className: "jv-score", text: formatNumber(cell.score) }),
            h("span", { className: "jv-ci", text: `[${formatNumber(cell.ci[0])}, ${formatNumber(cell.ci[1])}]` }),
          ]);
          td.addEventListener("mousemove", (e) => showInside(`${table.methods[i]} · ${metrics[j].name}\n${cellText(cell)}`, e));
          td.addEventListener("mouseleave", () => tooltip.hide());
          return td;
        }),
      ]),
    );
    grid.replaceChildren(h("thead", {}, [head]), h("tbody", {}, rows));
  }
  model.on("change:sort_by", draw);
  draw();
}

export default { render };
