// jv.AttentionView's front end: a bertviz-like head view (query tokens left, key tokens right,
// one colour per head, line opacity = weight) and a model view (layers x heads grid of small
// maps; click one to open it). Everything but the example index is drawn from what the kernel
// sent once: whole maps up to 256 tokens, else each query's top-k keys (exact) and block-averaged
// maps, so a 2,048-token view hovers as fast as a short one.
import "../lib/theme.css";
import "./attention.css";
import { lutColor, lutFromPayload } from "../lib/colormap.js";
import { createSlider, createToggle } from "../lib/controls.js";
import { formatNumber, h, isolateKeys } from "../lib/dom.js";
import { createBusy, createColorbar, createErrorBox, createTooltip } from "../lib/feedback.js";
import { createHeatmap } from "../lib/heatmap.js";
import { fromPayload, take } from "../lib/ndarray.js";
import { announceRendered, createRequester } from "../lib/sync.js";

// Okabe & Ito's palette: distinct under the common colour-vision deficiencies.
export const HEAD_COLORS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"];
export const LABELED_UP_TO = 60; // longer inputs: positions compressed, labels only where needed
const ROW = 18; // px per token when every token is labelled
const HEIGHT = 620; // px of the compressed head view
const IDLE_LINES_UP_TO = 48; // without hover, every line is drawn up to this many tokens
const FOCUS_KEYS = 8;
const DETAIL = 336; // px of the opened map
const AXIS = 64; // px of its token labels
const AXIS_LABELS_UP_TO = 48;
const CONTEXT = 5;

/** Black or white text, whichever reads better on a LUT colour. */
function textOn(lut, t) {
  const o = Math.max(0, Math.min(255, Math.round(t * 255))) * 4;
  return 0.299 * lut[o] + 0.587 * lut[o + 1] + 0.114 * lut[o + 2] > 140 ? "#111" : "#fff";
}

/** A weight as the focus list shows it: two decimals for weights in [0, 1], else compact. */
function formatWeight(w) {
  return w >= 0.01 && w <= 1 ? w.toFixed(2) : formatNumber(w);
}

export function headColor(h) {
  return HEAD_COLORS[h % HEAD_COLORS.length];
}

/** A row ("layer") of the payload as typed arrays. */
export function decodeRow(row) {
  const out = { ...row };
  for (const key of ["maps", "thumbs", "detail", "top_index", "top_weight"]) if (row[key]) out[key] = fromPayload(row[key]);
  return out;
}

/** The keys query `q` of head `head` attends to, strongest first: [{key, weight}]; whole maps
 * give every key with weight >= `floor`, long inputs their top-k. */
export function queryLines(row, head, q, { floor = 0.005 } = {}) {
  const lines = [];
  if (row.maps) {
    const n = row.maps.shape[2];
    const base = (head * n + q) * n;
    for (let k = 0; k < n; k++) {
      const w = row.maps.data[base + k];
      if (Math.abs(w) >= floor) lines.push({ key: k, weight: w });
    }
    lines.sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight));
    return lines;
  }
  const [, n, k] = row.top_index.shape;
  const base = (head * n + q) * k;
  for (let j = 0; j < k; j++) lines.push({ key: row.top_index.data[base + j], weight: row.top_weight.data[base + j] });
  return lines;
}

/** The queries that attend to key `key` (whole maps only): [{query, weight}]. */
export function keyLines(row, head, key, { floor = 0.005 } = {}) {
  if (!row.maps) return [];
  const n = row.maps.shape[2];
  const lines = [];
  for (let q = 0; q < n; q++) {
    const w = row.maps.data[(head * n + q) * n + key];
    if (Math.abs(w) >= floor) lines.push({ query: q, weight: w });
  }
  return lines;
}

/** The geometry of the head view for `n` tokens. */
export function headLayout(n) {
  const labeled = n <= LABELED_UP_TO;
  const height = labeled ? n * ROW + 8 : HEIGHT;
  const step = labeled ? ROW : (height - 8) / n;
  return { labeled, height, step, top: 4, width: 560, left: 200, right: 360 };
}

function render({ model, el }) {
  const setup = model.get("_setup");
  const luts = { sequential: lutFromPayload(setup.luts.sequential), diverging: lutFromPayload(setup.luts.diverging) };
  const root = h("div", { className: "jaxviz-root jaxviz-attention" });
  isolateKeys(root);
  el.replaceChildren(root);
  const tooltip = createTooltip(root);
  const get = (name) => model.get(name);
  let resultSource = null;
  let result = null;
  let hover = null; // {side: "query" | "key", pos}

  function takeResult() {
    const raw = get("_result");
    if (raw === resultSource) return;
    resultSource = raw;
    result = raw?.rows ? { ...raw, rows: raw.rows.map(decodeRow) } : null;
    hover = null;
  }

  const busy = createBusy();
  const errorBox = createErrorBox();
  const requester = createRequester(model, {
    onBusy: (b) => {
      busy.set(b);
      root.dataset.busy = String(b);
    },
    onReply: (reply) => {
      if (reply.error) errorBox.show(reply.error);
      else errorBox.clear();
      takeResult();
      drawAll();
    },
  });

  function local(name, value) {
    model.set(name, value);
    model.save_changes();
  }

  // -- controls ----------------------------------------------------------------------------------
  const title = h("span", { className: "jv-title", text: "Attention" });
  const caption = h("span", { className: "jv-attention-caption", dataset: { role: "caption" } });
  const viewToggle = createToggle({
    name: "view",
    label: "view",
    options: [{ value: "head", label: "head view" }, { value: "model", label: "model view" }],
    value: get("view"),
    onChange: (v) => {
      local("view", v);
      drawAll();
    },
  });
  const indexSlider = createSlider({
    name: "index",
    label: "example",
    min: 0,
    max: Math.max(0, setup.examples - 1),
    value: get("index"),
    format: (v) => `${v} / ${setup.examples - 1}`,
    onInput: (v) => {
      model.set("index", v);
      requester.commit();
    },
  });
  indexSlider.el.hidden = setup.examples < 2;
  const layerBox = h("div", { className: "jv-field" }, [h("span", { className: "jv-label", text: "layer" })]);
  const layerButtons = h("div", { className: "jv-toggle", dataset: { control: "layer" }, attrs: { role: "group", "aria-label": "layer" } });
  layerBox.append(layerButtons);
  const headBox = h("div", { className: "jv-field" }, [h("span", { className: "jv-label", text: "heads" })]);
  const headButtons = h("div", { className: "jv-attention-heads", dataset: { control: "heads" }, attrs: { role: "group", "aria-label": "heads" } });
  headBox.append(headButtons);

  // -- head view -----------------------------------------------------------------------------------
  const canvas = h("canvas", { className: "jv-attention-lines", dataset: { role: "head-view" }, attrs: { "aria-label": "attention lines" } });
  const focus = h("div", { className: "jv-attention-focus", dataset: { role: "focus" } });
  const colorbar = createColorbar({ width: 200 });
  const about = h("div", { className: "jv-attention-about" });
  const headView = h("div", { className: "jv-attention-headview" }, [canvas, h("div", { className: "jv-attention-side" }, [colorbar.el, focus, about])]);

  // -- model view ----------------------------------------------------------------------------------
  const grid = h("div", { className: "jv-attention-grid", dataset: { role: "grid" } });
  const detail = createHeatmap({ role: "detail", size: DETAIL, label: "opened attention map" });
  const detailBar = createColorbar({ role: "detail-colorbar", width: DETAIL });
  const detailTitle = h("div", { className: "jv-attention-detail-title" });
  const keyAxis = h("canvas", { className: "jv-attention-axis", dataset: { role: "key-axis" } });
  const queryAxis = h("canvas", { className: "jv-attention-axis", dataset: { role: "query-axis" } });
  const detailGrid = h("div", { className: "jv-attention-detail-grid" }, [h("div"), keyAxis, queryAxis, detail.el, h("div"), detailBar.el]);
  const detailBox = h("div", { className: "jv-attention-detail", dataset: { role: "opened" } }, [detailTitle, detailGrid]);
  const modelView = h("div", { className: "jv-attention-modelview" }, [grid, detailBox]);

  root.append(
    h("div", { className: "jv-attention-header" }, [title, caption, busy.el]),
    h("div", { className: "jv-attention-controls" }, [viewToggle.el, indexSlider.el, layerBox, headBox]),
    errorBox.el,
    headView,
    modelView,
  );

  // -- helpers -------------------------------------------------------------------------------------
  const rowAt = () => result?.rows[Math.min(get("layer"), result.rows.length - 1)];
  const shownHeads = (row) => (row.heads.length === 1 ? [0] : get("heads").filter((x) => x < row.heads.length));
  const lutOf = (row) => (row.signed ? luts.diverging : luts.sequential);
  const signOf = (row) => (row.signed ? "all" : "absolute");

  function drawControls() {
    const rows = result?.rows ?? [];
    layerButtons.replaceChildren(
      ...rows.map((row, i) => {
        const b = h("button", { className: "jv-toggle-button", text: row.label, attrs: { type: "button", "aria-pressed": String(i === get("layer")) }, dataset: { value: i } });
        b.addEventListener("click", () => {
          local("layer", i);
          hover = null;
          drawAll();
        });
        return b;
      }),
    );
    const row = rowAt();
    const count = row ? row.heads.length : 0;
    headBox.hidden = count < 2 || get("view") !== "head";
    layerBox.hidden = get("view") !== "head";
    const on = new Set(get("heads"));
    headButtons.replaceChildren(
      ...Array.from({ length: count }, (_, i) => {
        const b = h("button", { className: "jv-attention-head", text: String(i), attrs: { type: "button", "aria-pressed": String(on.has(i)), title: `head ${i}` }, dataset: { head: i }, style: { "--jv-head": headColor(i) } });
        b.addEventListener("click", (event) => {
          // click toggles a head; shift-click shows it alone
          const next = event.shiftKey ? [i] : on.has(i) ? [...on].filter((x) => x !== i) : [...on, i].sort((a, b2) => a - b2);
          local("heads", next);
          drawAll();
        });
        return b;
      }),
    );
  }

  function setCanvasSize(c, width, height) {
    const dpr = window.devicePixelRatio || 1;
    if (c.width !== Math.round(width * dpr)) c.width = Math.round(width * dpr);
    if (c.height !== Math.round(height * dpr)) c.height = Math.round(height * dpr);
    c.style.width = `${width}px`;
    c.style.height = `${height}px`;
    const ctx = c.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    return ctx;
  }

  function drawHeadView() {
    const started = performance.now();
    const row = rowAt();
    if (!row) return;
    const n = result.length;
    const geo = headLayout(n);
    const ctx = setCanvasSize(canvas, geo.width, geo.height);
    const styles = getComputedStyle(root);
    const fg = styles.getPropertyValue("--jv-fg").trim() || "#222";
    const muted = styles.getPropertyValue("--jv-fg-muted").trim() || "#777";
    ctx.clearRect(0, 0, geo.width, geo.height);
    ctx.font = `12px ${styles.getPropertyValue("--jv-mono").trim() || "monospace"}`;
    ctx.textBaseline = "middle";
    const y = (i) => geo.top + (i + 0.5) * geo.step;
    const heads = shownHeads(row);
    const lut = lutOf(row);
    const pinned = get("query");
    const active = hover ?? (pinned >= 0 && pinned < n ? { side: "query", pos: pinned } : null);
    let drawnLines = 0;
    const shade = new Map(); // position on the other side -> strongest |weight|
    const line = (yq, yk, weight, color, alpha) => {
      ctx.strokeStyle = color;
      ctx.globalAlpha = Math.min(1, alpha);
      ctx.lineWidth = geo.labeled ? 2 : 1.5;
      ctx.beginPath();
      ctx.moveTo(geo.left + 6, yq);
      ctx.lineTo(geo.right - 6, yk);
      ctx.stroke();
      drawnLines += 1;
    };
    const scale = row.scale > 0 ? row.scale : 1;
    if (active) {
      // opacity relative to the strongest shown line, so a long input's small weights still show
      let strongest = 0;
      for (const head of heads) {
        const lines = active.side === "query" ? queryLines(row, head, active.pos) : keyLines(row, head, active.pos);
        for (const l of lines) strongest = Math.max(strongest, Math.abs(l.weight));
      }
      const opacity = (w) => 0.15 + (0.85 * Math.abs(w)) / (strongest || 1);
      for (const head of heads) {
        const color = row.signed ? null : headColor(row.heads.length === 1 ? 0 : head);
        if (active.side === "query") {
          for (const { key, weight } of queryLines(row, head, active.pos)) {
            line(y(active.pos), y(key), weight, color ?? (weight < 0 ? "#2166ac" : "#b2182b"), opacity(weight));
            shade.set(key, Math.max(shade.get(key) ?? 0, Math.abs(weight)));
          }
        } else {
          for (const { query, weight } of keyLines(row, head, active.pos)) {
            line(y(query), y(active.pos), weight, color ?? (weight < 0 ? "#2166ac" : "#b2182b"), opacity(weight));
            shade.set(query, Math.max(shade.get(query) ?? 0, Math.abs(weight)));
          }
        }
      }
    } else {
      // idle: every line for short inputs, each query's strongest key otherwise (the pattern)
      for (const head of heads) {
        const color = row.signed ? "#888" : headColor(row.heads.length === 1 ? 0 : head);
        for (let q = 0; q < n; q++) {
          const lines = queryLines(row, head, q);
          const keep = n <= IDLE_LINES_UP_TO ? lines : lines.slice(0, 1);
          for (const { key, weight } of keep) line(y(q), y(key), weight, color, (0.5 * Math.abs(weight)) / scale);
        }
      }
    }
    ctx.globalAlpha = 1;
    // token labels (all of them when they fit; else the active one and its strongest partners)
    const words = result.words;
    const other = active?.side === "query" ? "key" : "query";
    const xOf = (side) => (side === "query" ? geo.left : geo.right);
    const label = (side, i, strong) => {
      const x = xOf(side);
      ctx.textAlign = side === "query" ? "right" : "left";
      const text = geo.labeled ? words[i] : `${words[i]} ·${i}`;
      const w = ctx.measureText(text).width + 6;
      const weight = active && side === other ? shade.get(i) : undefined;
      // the partner's shade: its weight's colour, fading out towards 0 so small weights stay quiet
      const strength = weight === undefined ? 0 : Math.min(1, weight / scale);
      if (strength > 0.02) {
        const t = row.signed ? 0.5 + 0.5 * strength : strength;
        ctx.globalAlpha = 0.25 + 0.75 * strength;
        ctx.fillStyle = lutColor(lut, t);
        ctx.fillRect(side === "query" ? x - w : x - 3, y(i) - geo.step / 2 + 1, w, Math.max(geo.step - 2, 12));
        ctx.globalAlpha = 1;
      }
      const isActive = active && side === active.side && i === active.pos;
      ctx.fillStyle = strength > 0.45 ? textOn(lut, row.signed ? 0.5 + 0.5 * strength : strength) : isActive || strong ? fg : muted;
      ctx.font = `${isActive ? "bold " : ""}12px ${styles.getPropertyValue("--jv-mono").trim() || "monospace"}`;
      ctx.fillText(text, side === "query" ? x - 3 : x + 3, y(i));
    };
    if (geo.labeled) {
      for (let i = 0; i < n; i++) {
        label("query", i, !active);
        label("key", i, !active);
      }
    } else {
      // position rulers, then labels placed strongest first without overlapping
      ctx.fillStyle = muted;
      ctx.globalAlpha = 0.35;
      ctx.fillRect(geo.left + 2, geo.top, 3, n * geo.step);
      ctx.fillRect(geo.right - 5, geo.top, 3, n * geo.step);
      ctx.globalAlpha = 1;
      ctx.textAlign = "right";
      for (let i = 0; i < n; i += Math.ceil(n / 16)) {
        if (active?.side === "query" && Math.abs(y(i) - y(active.pos)) < 14) continue; // its label
        ctx.fillText(String(i), geo.left - 2 - 40, y(i));
      }
      if (active) {
        label(active.side, active.pos, true);
        const placed = [];
        const partners = [...shade.entries()].sort((a, b) => b[1] - a[1]);
        for (const [i] of partners) {
          if (placed.some((p) => Math.abs(p - y(i)) < 13)) continue;
          placed.push(y(i));
          label(other, i, true);
          if (placed.length >= 16) break;
        }
      }
    }
    // the shading's legend
    colorbar.update({ lut, sign: signOf(row), scale, caption: row.signed ? `${row.label} (signed)` : `${row.label}: weight` });
    about.textContent = `${row.label}: ${row.about}${geo.labeled ? "" : ` ${n} tokens: lines show each query's ${row.maps ? "keys" : `top ${row.top_index.shape[2]} keys`}; hover the left column.`}`;
    drawFocus(row, active, heads);
    root.dataset.lines = String(drawnLines);
    root.dataset.hovered = active ? `${active.side}:${active.pos}` : "";
    root.dataset.drawMs = String(performance.now() - started);
  }

  function drawFocus(row, active, heads) {
    if (!active) {
      focus.replaceChildren(h("div", { className: "jv-attention-hint", text: result.length > 1 ? "Hover a token: left, what it attends to; right, who attends to it. Click to pin." : "" }));
      return;
    }
    const words = result.words;
    const pos = active.pos;
    const from = Math.max(0, pos - CONTEXT);
    const to = Math.min(words.length, pos + CONTEXT + 1);
    const context = h("div", { className: "jv-attention-context" }, [
      h("span", { className: "jv-label", text: `position ${pos}: ` }),
      ...words.slice(from, to).map((w, j) => h("span", { className: from + j === pos ? "jv-attention-current" : "", text: `${w} ` })),
    ]);
    const entries = [];
    for (const head of heads) {
      const lines = active.side === "query" ? queryLines(row, head, pos, { floor: 0 }) : keyLines(row, head, pos, { floor: 0 }).map((l) => ({ key: l.query, weight: l.weight }));
      lines.sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight));
      const top = Math.abs(lines[0]?.weight ?? 0);
      const shown = lines.slice(0, FOCUS_KEYS).filter((l) => Math.abs(l.weight) >= 0.01 * top);
      entries.push(
        h("div", { className: "jv-attention-focus-head" }, [
          h("span", { className: "jv-attention-swatch", style: { background: headColor(row.heads.length === 1 ? 0 : head) } }),
          h("span", { text: `${row.heads[head]} ${active.side === "query" ? "attends to" : "is attended by"}: ` }),
          h("span", { className: "jv-attention-tops", text: shown.map((l) => `${words[l.key]}·${l.key} ${formatWeight(l.weight)}`).join(",  ") }),
        ]),
      );
    }
    focus.replaceChildren(context, ...entries);
  }

  function headAt(event) {
    const rect = canvas.getBoundingClientRect();
    const geo = headLayout(result.length);
    const x = event.clientX - rect.left;
    const pos = Math.floor((event.clientY - rect.top - geo.top) / geo.step);
    if (pos < 0 || pos >= result.length) return null;
    const side = x < (geo.left + geo.right) / 2 ? "query" : "key";
    if (side === "key" && !rowAt()?.maps) return { side: "query", pos }; // long inputs: rows only
    return { side, pos };
  }

  let frame = 0;
  canvas.addEventListener("mousemove", (event) => {
    if (!result) return;
    const next = headAt(event);
    if (next?.side === hover?.side && next?.pos === hover?.pos) return;
    hover = next;
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(drawHeadView);
  });
  canvas.addEventListener("mouseleave", () => {
    hover = null;
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(drawHeadView);
  });
  canvas.addEventListener("click", (event) => {
    const at = result && headAt(event);
    const q = at && at.side === "query" && at.pos !== get("query") ? at.pos : -1;
    local("query", q);
    drawHeadView();
  });

  // -- model view drawing ----------------------------------------------------------------------------
  function drawGrid() {
    if (!result) return;
    const opened = get("opened");
    const cells = [];
    const heads = Math.max(...result.rows.map((r) => r.heads.length));
    grid.style.setProperty("--jv-columns", String(heads + 1));
    result.rows.forEach((row, r) => {
      cells.push(h("div", { className: "jv-attention-rowlabel", text: row.label }));
      for (let head = 0; head < heads; head++) {
        if (head >= row.heads.length) {
          cells.push(h("div"));
          continue;
        }
        const view = createHeatmap({ role: "thumb", size: 76, label: `${row.label} ${row.heads[head]}` });
        view.draw({ map: take(row.thumbs, head), lut: lutOf(row), sign: signOf(row), clip: 100, fit: { width: 76, height: 76 } });
        const isOpen = opened[0] === r && opened[1] === head;
        const cell = h("button", { className: `jv-attention-cell${isOpen ? " jv-selected" : ""}`, attrs: { type: "button", title: `${row.label}, ${row.heads[head]}: click to open` }, dataset: { row: r, head } }, [
          view.el,
          h("span", { className: "jv-attention-cell-label", text: row.heads.length === 1 ? "" : `h${head}` }),
        ]);
        cell.addEventListener("click", () => {
          local("opened", isOpen ? [] : [r, head]);
          drawModelView();
        });
        cells.push(cell);
      }
    });
    const header = [h("div"), ...Array.from({ length: heads }, (_, i) => h("div", { className: "jv-attention-colhead", text: `head ${i}` }))];
    grid.replaceChildren(...header, ...cells);
    root.dataset.thumbs = String(grid.querySelectorAll("canvas").length);
  }

  let detailState = null;
  function drawDetail() {
    const opened = get("opened");
    const row = result && opened.length === 2 ? result.rows[opened[0]] : null;
    detailBox.hidden = !row;
    if (!row) return;
    const head = Math.min(opened[1], row.heads.length - 1);
    const full = row.maps ?? null;
    const map = full ? take(full, head) : take(row.detail, head);
    const block = full ? 1 : row.detail_block;
    const scale = detail.draw({ map, lut: lutOf(row), sign: signOf(row), clip: 100, fit: { width: DETAIL, height: DETAIL } });
    detailBar.update({ lut: lutOf(row), sign: signOf(row), scale, caption: block > 1 ? `mean weight over ${block}×${block} tokens per cell` : "attention weight" });
    detailTitle.textContent = `${row.label}${row.heads.length > 1 ? `, ${row.heads[head]}` : ""}: rows are queries, columns keys`;
    detailState = { row, head, block };
    drawAxes(block === 1 && result.length <= AXIS_LABELS_UP_TO ? result.words : null);
  }

  /** Token names along the opened map: keys above (slanted), queries to the left. */
  function drawAxes(words) {
    keyAxis.hidden = queryAxis.hidden = !words;
    if (!words) return;
    const cell = DETAIL / words.length;
    const styles = getComputedStyle(root);
    const font = `11px ${styles.getPropertyValue("--jv-mono").trim() || "monospace"}`;
    const color = styles.getPropertyValue("--jv-fg-muted").trim() || "#666";
    let ctx = setCanvasSize(keyAxis, DETAIL, AXIS);
    ctx.font = font;
    ctx.fillStyle = color;
    words.forEach((w, i) => {
      ctx.save();
      ctx.translate((i + 0.5) * cell, AXIS - 4);
      ctx.rotate(-Math.PI / 4);
      ctx.fillText(w, 0, 0);
      ctx.restore();
    });
    ctx = setCanvasSize(queryAxis, AXIS, DETAIL);
    ctx.font = font;
    ctx.fillStyle = color;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    words.forEach((w, i) => ctx.fillText(w, AXIS - 4, (i + 0.5) * cell));
  }

  detail.el.addEventListener("mousemove", (event) => {
    const v = detail.valueAt(event);
    if (!v || !detailState) return tooltip.hide();
    const { block } = detailState;
    const words = result.words;
    const span = (i) => (block > 1 ? `${i * block}–${Math.min(result.length, (i + 1) * block) - 1}` : `${words[i]}·${i}`);
    tooltip.show(`query ${span(v.row)} → key ${span(v.col)}\n${block > 1 ? "mean " : ""}weight ${formatNumber(v.value)}`, event.clientX, event.clientY);
  });
  detail.el.addEventListener("mouseleave", () => tooltip.hide());

  function drawModelView() {
    drawGrid();
    drawDetail();
  }

  function drawAll() {
    const isHead = get("view") === "head";
    headView.hidden = !isHead;
    modelView.hidden = isHead;
    drawControls();
    if (!result) return;
    caption.textContent = `example ${result.index}: ${result.length} tokens · predicted ${result.predicted}`;
    root.dataset.index = String(result.index);
    if (isHead) drawHeadView();
    else drawModelView();
    root.dataset.drawn = String(Number(root.dataset.drawn ?? 0) + 1);
  }

  const listeners = ["view", "layer", "heads", "query", "opened", "index"].map((name) => {
    const cb = () => {
      if (name === "view") viewToggle.set(get("view"));
      if (name === "index") indexSlider.set(get("index"));
      drawAll();
    };
    model.on(`change:${name}`, cb);
    return [name, cb];
  });
  const onResult = () => {
    takeResult();
    drawAll();
  };
  model.on("change:_result", onResult);

  takeResult();
  const initial = get("_reply");
  if (initial?.error) errorBox.show(initial.error);
  drawAll();
  announceRendered(model);

  return () => {
    requester.dispose();
    for (const [name, cb] of listeners) model.off(`change:${name}`, cb);
    model.off("change:_result", onResult);
  };
}

export default { render };
