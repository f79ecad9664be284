// The model graph's pure parts: which nodes and edges show with some modules collapsed (the same
// rule as ModelGraph.view in Python), and their layout by dagre (bundled: no network).
import { graphlib, layout } from "@dagrejs/dagre";

/** The ids drawn and the edges between them with the groups in `collapsed` folded. */
export function visibleGraph(nodes, edges, collapsed) {
  const folded = new Set(collapsed);
  const parent = new Map(nodes.map((n) => [n.id, n.parent]));
  const shown = (id) => {
    let out = id;
    for (let p = parent.get(id); p !== null && p !== undefined; p = parent.get(p)) if (folded.has(p)) out = p;
    return out;
  };
  const ids = nodes.filter((n) => shown(n.id) === n.id && (n.children.length === 0 || folded.has(n.id))).map((n) => n.id);
  const seen = new Set();
  const out = [];
  for (const e of edges) {
    const source = shown(e.source);
    const target = shown(e.target);
    const key = `${source}\u0000${target}\u0000${e.shape.join("x")}`;
    if (source === target || seen.has(key)) continue;
    seen.add(key);
    out.push({ ...e, source, target });
  }
  // expanded groups that hold something drawn: drawn as boxes around it
  const clusters = nodes.filter((n) => n.children.length > 0 && !folded.has(n.id) && shown(n.id) === n.id).map((n) => n.id);
  return { ids, edges: out, clusters };
}

export const shapeText = (shape) => shape.join("×");

/** Size of a node's box for its text (monospace-ish estimate: no DOM measuring needed). */
export function nodeSize(node, collapsed) {
  if (node.kind === "op") return { width: Math.max(54, 8 * node.label.length + 22), height: 26 };
  const lines = nodeLines(node, collapsed);
  const chars = Math.max(...lines.map((l) => l.length));
  return { width: Math.max(110, 7 * chars + 26), height: 16 * lines.length + 14 };
}

/** The text lines drawn in a node. */
export function nodeLines(node, collapsed) {
  if (node.kind === "input" || node.kind === "output") return [node.label, shapeText(node.output_shape ?? [])];
  if (node.kind === "op") return [node.label];
  const count = node.param_count ? ` · ${node.param_count.toLocaleString("en-US")} params` : "";
  const folded = node.children.length > 0 && collapsed;
  return [node.label, `${node.type}${count}${folded ? ` · ${node.children.length} inside` : ""}`];
}

/**
 * Positions from dagre (compound: expanded modules are clusters around their members).
 * Returns {width, height, nodes: Map id -> {x, y, width, height}, clusters: Map, edges: [{edge, points, label}]}.
 */
export function layoutGraph(graph, collapsed) {
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const { ids, edges, clusters } = visibleGraph(graph.nodes, graph.edges, collapsed);
  const g = new graphlib.Graph({ compound: true, multigraph: true });
  g.setGraph({ rankdir: "TB", nodesep: 26, ranksep: 34, edgesep: 14, marginx: 14, marginy: 14 });
  g.setDefaultEdgeLabel(() => ({}));
  const folded = new Set(collapsed);
  for (const id of clusters) g.setNode(id, { label: id });
  for (const id of ids) g.setNode(id, nodeSize(byId.get(id), folded.has(id)));
  for (const id of [...clusters, ...ids]) {
    const p = byId.get(id).parent;
    if (p !== null && clusters.includes(p)) g.setParent(id, p);
  }
  edges.forEach((e, i) => {
    const label = shapeText(e.shape);
    g.setEdge(e.source, e.target, { label, width: 6.2 * label.length + 6, height: 14, labelpos: "r", labeloffset: 4 }, `e${i}`);
  });
  layout(g);
  const place = (id) => {
    const n = g.node(id);
    return { x: n.x, y: n.y, width: n.width, height: n.height };
  };
  return {
    width: g.graph().width,
    height: g.graph().height,
    nodes: new Map(ids.map((id) => [id, place(id)])),
    clusters: new Map(clusters.map((id) => [id, place(id)])),
    edges: edges.map((e, i) => {
      const d = g.edge(e.source, e.target, `e${i}`);
      return { edge: e, points: d.points, label: { text: d.label, x: d.x, y: d.y } };
    }),
  };
}
