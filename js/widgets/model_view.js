// ModelView: the model as a graph (modules as collapsible boxes, shapes on edges, parameter counts on
// nodes, laid out by dagre) with a panel of the chosen node's activation and weight statistics, and
// a second tab with the table of layers. Everything is sent up front: no kernel round trips.
import "../lib/theme.css";
import "../lib/flow.css";
import "./model_view.css";
import { createChart } from "../lib/chart.js";
import { formatNumber, h, isolateKeys } from "../lib/dom.js";
import { layoutGraph, nodeLines, shapeText } from "../lib/model_graph.js";
import { fromPayload } from "../lib/ndarray.js";

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, children = []) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c);
  return el;
}

function text(x, y, content, className) {
  const t = svg("text", { x, y, class: className });
  t.textContent = content;
  return t;
}

const fmt = (v) => (v === null || v === undefined ? "-" : formatNumber(v));

function histogramSpec(title, stats, color) {
  const counts = fromPayload(stats.histogram).data;
  const bins = counts.length;
  const lo = stats.min ?? 0;
  const hi = stats.max > stats.min ? stats.max : lo + 1;
  const centres = Array.from({ length: bins }, (_, i) => lo + ((i + 0.5) * (hi - lo)) / bins);
  return {
    title,
    series: [{ x: centres, y: counts, kind: "bar", color, barWidth: Math.max(1, 250 / bins - 1), alpha: 0.85 }],
    x: { min: lo, max: hi, label: "value" },
    y: { min: 0, label: "count" },
  };
}

function statsGrid(stats, role) {
  const cells = [
    ["mean", fmt(stats.mean)],
    ["std", fmt(stats.std)],
    ["min", fmt(stats.min)],
    ["max", fmt(stats.max)],
    ["exactly zero", `${(100 * stats.zero_fraction).toFixed(1)}%`],
  ];
  return h("div", { className: "jv-flow-stats", dataset: { role } }, cells.flatMap(([k, v]) => [h("span", { text: k }), h("span", { text: v })]));
}

function renderGraphPane(model, pane) {
  const graph = model.get("graph");
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const groups = graph.nodes.filter((n) => n.children.length > 0).map((n) => n.id);
  const canvas = h("div", { className: "jv-graph-scroll" });
  const panel = h("div", { className: "jv-graph-panel", dataset: { role: "node-panel" } });
  const actChart = createChart({ role: "node-activation", width: 300, height: 170, label: "activation histogram" });
  const weightChart = createChart({ role: "node-weights", width: 300, height: 170, label: "weight histogram" });
  const button = (label, control, onClick) => {
    const b = h("button", { className: "jv-button", text: label, attrs: { type: "button" }, dataset: { control } });
    b.addEventListener("click", onClick);
    return b;
  };
  const setCollapsed = (ids) => {
    model.set("collapsed", ids);
    model.save_changes();
    draw();
  };
  const toolbar = h("div", { className: "jv-graph-toolbar" }, [
    button("expand all", "expand-all", () => setCollapsed([])),
    button("collapse all", "collapse-all", () => setCollapsed(groups.filter((g) => byId.get(g).parent === null))),
    h("span", { className: "jv-flow-sub", text: groups.length ? "click a node for its statistics · ⊟/⊞ folds a module" : "click a node for its statistics" }),
  ]);
  if (!groups.length) toolbar.querySelectorAll("button").forEach((b) => b.remove());
  pane.append(toolbar, h("div", { className: "jv-graph-row" }, [canvas, panel]));

  const select = (id) => {
    model.set("selected", id);
    model.save_changes();
    draw();
  };
  const toggle = (id) => {
    const collapsed = new Set(model.get("collapsed"));
    if (collapsed.has(id)) collapsed.delete(id);
    else {
      collapsed.add(id);
      // folding a module hides what is inside it: move the selection onto the module
      for (let p = byId.get(model.get("selected"))?.parent; p; p = byId.get(p).parent) if (p === id) model.set("selected", id);
    }
    setCollapsed(graph.nodes.filter((n) => collapsed.has(n.id)).map((n) => n.id));
  };

  function drawSvg() {
    const collapsed = model.get("collapsed");
    const selected = model.get("selected");
    const lay = layoutGraph(graph, collapsed);
    const root = svg("svg", { width: Math.ceil(lay.width), height: Math.ceil(lay.height), "data-role": "graph", class: "jv-graph" });
    root.append(
      svg("defs", {}, [
        svg("marker", { id: "jv-arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, [svg("path", { d: "M0,0 L10,5 L0,10 z", class: "jv-graph-arrowhead" })]),
      ]),
    );
    const depth = (id) => {
      let d = 0;
      for (let p = byId.get(id).parent; p; p = byId.get(p).parent) d += 1;
      return d;
    };
    const clusters = [...lay.clusters].sort((a, b) => depth(a[0]) - depth(b[0]));
    const headers = [];
    for (const [id, c] of clusters) {
      const n = byId.get(id);
      const x0 = c.x - c.width / 2;
      const y0 = c.y - c.height / 2;
      const count = n.param_count ? ` · ${n.param_count.toLocaleString("en-US")} params` : "";
      const title = `${n.label} · ${n.type}${count}`;
      root.append(svg("rect", { class: "jv-graph-cluster-box", "data-role": "cluster", "data-node": id, x: x0, y: y0, width: c.width, height: c.height, rx: 6 }));
      // the header goes over the edges (drawn later), on a backing of the box's colour
      const g = svg("g", { class: "jv-graph-cluster" }, [
        svg("rect", { class: "jv-graph-cluster-head", x: x0 + 3, y: y0 + 2, width: Math.min(c.width - 6, 24 + 6.3 * title.length), height: 16, rx: 3 }),
        text(x0 + 22, y0 + 11, title, "jv-graph-cluster-label"),
      ]);
      const t = svg("g", { class: "jv-graph-toggle", "data-control": "toggle", "data-node": id, tabindex: 0, role: "button", "aria-label": `collapse ${id}` }, [
        svg("rect", { x: x0 + 5, y: y0 + 3, width: 13, height: 13, rx: 2 }),
        text(x0 + 11.5, y0 + 13.5, "−", "jv-graph-toggle-sign"),
      ]);
      t.addEventListener("click", (e) => {
        e.stopPropagation();
        toggle(id);
      });
      g.append(t);
      headers.push(g);
    }
    for (const { edge, points, label } of lay.edges) {
      const d = points.map((p, i) => `${i ? "L" : "M"}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(" ");
      root.append(
        svg("g", { class: "jv-graph-edge", "data-role": "edge", "data-source": edge.source, "data-target": edge.target }, [
          svg("path", { d, "marker-end": "url(#jv-arrow)" }),
          text(label.x - (6.2 * label.text.length) / 2, label.y + 4, shapeText(edge.shape), "jv-graph-edge-label"),
        ]),
      );
    }
    root.append(...headers);
    for (const [id, p] of lay.nodes) {
      const n = byId.get(id);
      const folded = n.children.length > 0;
      const x0 = p.x - p.width / 2;
      const y0 = p.y - p.height / 2;
      const cls = `jv-graph-node jv-kind-${folded ? "folded" : n.kind}${id === selected ? " jv-selected" : ""}`;
      const g = svg("g", { class: cls, "data-role": "node", "data-node": id, tabindex: 0, role: "button", "aria-pressed": String(id === selected) });
      g.append(svg("rect", { x: x0, y: y0, width: p.width, height: p.height, rx: n.kind === "op" ? p.height / 2 : 5 }));
      if (folded) g.append(svg("rect", { class: "jv-graph-fold", x: x0 + 3, y: y0 + 3, width: p.width - 6, height: p.height - 6, rx: 4 }));
      nodeLines(n, folded).forEach((line, i, lines) => {
        const y = p.y + (i - (lines.length - 1) / 2) * 16 + 4;
        g.append(text(p.x, y, line, i === 0 ? "jv-graph-node-title" : "jv-graph-node-sub"));
      });
      if (folded) {
        const t = svg("g", { class: "jv-graph-toggle", "data-control": "toggle", "data-node": id, role: "button", "aria-label": `expand ${id}` }, [
          svg("rect", { x: x0 + 5, y: y0 + 5, width: 13, height: 13, rx: 2 }),
          text(x0 + 11.5, y0 + 15.5, "+", "jv-graph-toggle-sign"),
        ]);
        t.addEventListener("click", (e) => {
          e.stopPropagation();
          toggle(id);
        });
        g.append(t);
      }
      g.addEventListener("click", () => select(id));
      g.addEventListener("dblclick", () => folded && toggle(id));
      g.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") select(id);
      });
      root.append(g);
    }
    canvas.replaceChildren(root);
  }

  function drawPanel() {
    const n = byId.get(model.get("selected")) ?? graph.nodes[0];
    const facts = [
      ["kind", n.kind === "op" ? "operation" : n.kind],
      ["type", n.type],
      ["output shape", n.output_shape ? shapeText(n.output_shape) : "-"],
      ["parameters", n.param_count.toLocaleString("en-US")],
    ];
    if (n.ops.length) facts.push(["computes", n.ops.join(", ")]);
    if (n.children.length) facts.push(["contains", `${n.children.length} nodes`]);
    const params = n.params.slice(0, 8).map((p) => h("div", { className: "jv-graph-param", text: `${p.name}  ${shapeText(p.shape)}  ${p.dtype}` }));
    if (n.params.length > 8) params.push(h("div", { className: "jv-flow-sub", text: `… and ${n.params.length - 8} more` }));
    const parts = [
      h("div", { className: "jv-graph-panel-title", dataset: { role: "node-name" }, text: n.id }),
      h("div", { className: "jv-flow-stats jv-graph-facts", dataset: { role: "node-facts" } }, facts.flatMap(([k, v]) => [h("span", { text: k }), h("span", { text: v })])),
      ...params,
    ];
    if (n.activation) {
      actChart.draw(histogramSpec(`output of ${n.label} (this batch)`, n.activation, "#4e79a7"));
      parts.push(actChart.el, statsGrid(n.activation, "node-stats"));
    } else parts.push(h("div", { className: "jv-flow-sub", text: "no output" }));
    if (n.weights) {
      weightChart.draw(histogramSpec(`weights of ${n.label}`, n.weights, "#f28e2b"));
      parts.push(weightChart.el, statsGrid(n.weights, "weight-stats"));
    } else parts.push(h("div", { className: "jv-flow-sub", dataset: { role: "no-weights" }, text: "no parameters" }));
    panel.replaceChildren(...parts);
  }

  function draw() {
    drawSvg();
    drawPanel();
  }
  model.on("change:collapsed", draw);
  model.on("change:selected", draw);
  draw();
}

function renderTablePane(model, pane) {
  const rows = model.get("rows");
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
  pane.append(
    h("div", { className: "jv-flow-sub", text: "a module's count includes its sublayers" }),
    h("div", { className: "jv-flow-row" }, [table, h("div", { className: "jv-flow-panel" }, [chart.el, stats])]),
  );

  function show() {
    const name = model.get("layer");
    const r = rows.find((row) => row.name === name) ?? rows[0];
    if (!r) return;
    for (const tr of trs) tr.setAttribute("aria-selected", String(tr.dataset.layer === r.name));
    chart.draw(histogramSpec(`${r.name}: activations for this batch`, r, "#4e79a7"));
    stats.replaceChildren(
      ...[["mean", fmt(r.mean)], ["std", fmt(r.std)], ["min", fmt(r.min)], ["max", fmt(r.max)], ["exactly zero", `${(100 * r.zero_fraction).toFixed(1)}%`], ["parameter dtype", r.param_dtype]].flatMap(
        ([k, v]) => [h("span", { text: k }), h("span", { text: v })],
      ),
    );
  }
  model.on("change:layer", show);
  show();
}

function render({ model, el }) {
  const root = h("div", { className: "jaxviz-root jaxviz-model-view" });
  isolateKeys(root);
  el.append(root);
  const graph = model.get("graph");
  const layers = model.get("rows").length;
  const panes = { graph: h("div", { className: "jv-model-pane", dataset: { role: "graph-pane" } }), table: h("div", { className: "jv-model-pane", dataset: { role: "table-pane" } }) };
  const tabs = Object.keys(panes).map((mode) => {
    const b = h("button", { className: "jv-tab", text: mode === "graph" ? "graph" : "table of layers", attrs: { type: "button", role: "tab" }, dataset: { control: "mode", mode } });
    b.addEventListener("click", () => {
      model.set("mode", mode);
      model.save_changes();
      showMode();
    });
    return b;
  });
  if (!layers) {
    tabs[1].disabled = true; // token ids: the table reads layers through jv.activations
    tabs[1].title = "the table of layers needs floating inputs";
  }
  root.append(
    h("div", { className: "jv-flow-title" }, [
      h("span", { text: "Model structure" }),
      h("span", { className: "jv-flow-sub", dataset: { role: "summary" }, text: `${graph.nodes.length} nodes · ${graph.param_count.toLocaleString("en-US")} parameters` }),
      h("span", { className: "jv-tabs", attrs: { role: "tablist" } }, tabs),
    ]),
    panes.graph,
    panes.table,
  );
  renderGraphPane(model, panes.graph);
  renderTablePane(model, panes.table);
  function showMode() {
    const mode = model.get("mode");
    for (const [name, pane] of Object.entries(panes)) pane.hidden = name !== mode;
    for (const b of tabs) b.setAttribute("aria-selected", String(b.dataset.mode === mode));
  }
  model.on("change:mode", showMode);
  showMode();
}

export default { render };
