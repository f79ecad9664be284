import { describe, expect, it } from "vitest";
import { layoutGraph, nodeLines, visibleGraph } from "../lib/model_graph.js";

// stem -> block(conv1 -> add) with the skip stem -> add, then head
const node = (id, parent, children = [], kind = "module") => ({ id, label: id, kind, type: "T", parent, children, param_count: 10, output_shape: [2, 4] });
const nodes = [
  node("input", null, [], "input"),
  node("stem", null),
  node("block", null, ["block.conv1", "block/add"]),
  node("block.conv1", "block"),
  node("block/add", "block", [], "op"),
  node("head", null),
];
const edge = (source, target) => ({ source, target, shape: [2, 4], dtype: "float32" });
const edges = [edge("input", "stem"), edge("stem", "block.conv1"), edge("stem", "block/add"), edge("block.conv1", "block/add"), edge("block/add", "head")];

describe("visibleGraph folds collapsed modules like ModelGraph.view", () => {
  it("expanded: every leaf shows, the skip is its own edge, the block is a cluster", () => {
    const v = visibleGraph(nodes, edges, []);
    expect(v.ids).toEqual(["input", "stem", "block.conv1", "block/add", "head"]);
    expect(v.edges.map((e) => `${e.source}>${e.target}`)).toContain("stem>block/add");
    expect(v.clusters).toEqual(["block"]);
  });
  it("collapsed: the block is one node; the main path and the skip merge into one edge", () => {
    const v = visibleGraph(nodes, edges, ["block"]);
    expect(v.ids).toEqual(["input", "stem", "block", "head"]);
    expect(v.edges.map((e) => `${e.source}>${e.target}`)).toEqual(["input>stem", "stem>block", "block>head"]);
    expect(v.clusters).toEqual([]);
  });
});

describe("layoutGraph", () => {
  it("places every drawn node, the cluster around its members, edges top to bottom", () => {
    const lay = layoutGraph({ nodes, edges }, []);
    const y = (id) => lay.nodes.get(id).y;
    expect(y("stem")).toBeLessThan(y("block.conv1"));
    expect(y("block.conv1")).toBeLessThan(y("block/add"));
    const c = lay.clusters.get("block");
    for (const id of ["block.conv1", "block/add"]) {
      const n = lay.nodes.get(id);
      expect(Math.abs(n.x - c.x)).toBeLessThanOrEqual(c.width / 2);
      expect(Math.abs(n.y - c.y)).toBeLessThanOrEqual(c.height / 2);
    }
    expect(lay.edges).toHaveLength(edges.length);
  });
  it("a folded module says how many nodes it holds", () => {
    expect(nodeLines(nodes[2], true)[1]).toBe("T · 10 params · 2 inside");
  });
});

describe("histogram axes", () => {
  it("a tick at zero is exactly 0, not the float steps' 5.55e-17", async () => {
    const { niceTicks } = await import("../lib/chart.js");
    const ticks = niceTicks(-0.722, 0.708, 6);
    expect(ticks).toContain(0);
    expect(ticks.every((t) => t === 0 || Math.abs(t) >= 0.1)).toBe(true);
  });
});
