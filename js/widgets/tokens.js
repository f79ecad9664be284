// jv.TokenView's front end: one canvas row of coloured tokens per attribution method (red raises
// the class score, blue lowers it, white is 0), each with a colorbar in the method's units, and
// the ground-truth evidence row under them. Every method's map for every class of the shown
// example is already here, so class and method switch without the kernel; the example asks it.
import "../lib/theme.css";
import "./tokens.css";
import { lutColor, lutFromPayload } from "../lib/colormap.js";
import { createSelect, createSlider } from "../lib/controls.js";
import { formatNumber, h, isolateKeys } from "../lib/dom.js";
import { createBusy, createColorbar, createErrorBox, createTooltip } from "../lib/feedback.js";
import { fromPayload, take } from "../lib/ndarray.js";
import { normalize } from "../lib/scale.js";
import { announceRendered, createRequester } from "../lib/sync.js";

const PAD_X = 5;
const GAP = 4;
const LINE = 24;
const WIDTH = 760;

/** Left-to-right, wrapping layout of boxes of the given widths: [{x, y, w}] and the height. */
export function layoutTokens(widths, maxWidth, { gap = GAP, line = LINE } = {}) {
  const boxes = [];
  let x = 0;
  let y = 0;
  for (const w of widths) {
    if (x > 0 && x + w > maxWidth) {
      x = 0;
      y += line;
    }
    boxes.push({ x, y, w });
    x += w + gap;
  }
  return { boxes, height: widths.length ? y + line : line };
}

/** Black or white text, whichever reads better on a LUT colour. */
function textOn(lut, t) {
  const o = Math.max(0, Math.min(255, Math.round(t * 255))) * 4;
  return 0.299 * lut[o] + 0.587 * lut[o + 1] + 0.114 * lut[o + 2] > 140 ? "#111" : "#fff";
}

function argmax(values) {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

function render({ model, el }) {
  const setup = model.get("_setup");
  const lut = lutFromPayload(setup.lut);
  const probs = fromPayload(setup.probs);
  const names = setup.class_names;
  const methods = Object.fromEntries(setup.methods.map((m) => [m.value, m]));
  const root = h("div", { className: "jaxviz-root jaxviz-tokens" });
  isolateKeys(root);
  el.replaceChildren(root);
  const tooltip = createTooltip(root);
  const get = (name) => model.get(name);
  let resultSource = null;
  let result = null;

  function takeResult() {
    const raw = get("_result");
    if (raw === resultSource) return;
    resultSource = raw;
    result = raw?.maps
      ? { ...raw, maps: Object.fromEntries(Object.entries(raw.maps).map(([m, p]) => [m, fromPayload(p)])) }
      : null;
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
      draw();
    },
  });
  function local(name, value) {
    model.set(name, value);
    model.save_changes();
    draw();
  }

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
      draw();
    },
  });
  indexSlider.el.hidden = setup.examples < 2;
  const classSelect = createSelect({
    name: "class",
    label: "class",
    options: [{ value: -1, label: "predicted" }, ...names.map((n, i) => ({ value: i, label: n }))],
    value: get("target"),
    onChange: (v) => local("target", Number(v)),
  });
  const methodSelect = createSelect({
    name: "method",
    label: "method",
    options: [{ value: "all", label: "all methods" }, ...setup.methods.map((m) => ({ value: m.value, label: m.label }))],
    value: get("method"),
    onChange: (v) => local("method", v),
  });
  const summary = h("div", { className: "jv-tokens-summary", dataset: { role: "summary" } });
  const rows = h("div", { className: "jv-tokens-rows", dataset: { role: "rows" } });
  root.append(
    h("div", { className: "jv-tokens-header" }, [h("span", { className: "jv-title", text: "Token attribution" }), busy.el]),
    h("div", { className: "jv-tokens-controls" }, [indexSlider.el, classSelect.el, methodSelect.el]),
    errorBox.el,
    summary,
    rows,
  );

  const font = () => `13px ${getComputedStyle(root).getPropertyValue("--jv-mono").trim() || "monospace"}`;

  /** One canvas of tokens; `paint(i)` -> {fill, stroke, text, bold}. Returns the canvas. */
  function tokenCanvas(role, words, paint, describe) {
    const canvas = h("canvas", { className: "jv-tokens-canvas", dataset: { role } });
    const probe = canvas.getContext("2d");
    probe.font = font();
    const widths = words.map((w) => probe.measureText(w).width + 2 * PAD_X);
    const { boxes, height } = layoutTokens(widths, WIDTH);
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(WIDTH * dpr);
    canvas.height = Math.round(height * dpr);
    canvas.style.width = `${WIDTH}px`;
    canvas.style.height = `${height}px`;
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.textBaseline = "middle";
    ctx.textAlign = "center";
    boxes.forEach((b, i) => {
      const p = paint(i);
      ctx.fillStyle = p.fill;
      ctx.beginPath();
      ctx.roundRect(b.x + 0.5, b.y + 2.5, b.w - 1, LINE - 5, 4);
      ctx.fill();
      if (p.stroke) {
        ctx.strokeStyle = p.stroke;
        ctx.lineWidth = p.strokeWidth ?? 1;
        ctx.stroke();
      }
      ctx.font = `${p.bold ? "bold " : ""}${font()}`;
      ctx.fillStyle = p.text;
      ctx.fillText(words[i], b.x + b.w / 2, b.y + LINE / 2);
    });
    canvas.addEventListener("mousemove", (event) => {
      const rect = canvas.getBoundingClientRect();
      const x = event.clientX - rect.left;
      const y = event.clientY - rect.top;
      const i = boxes.findIndex((b) => x >= b.x && x < b.x + b.w && y >= b.y && y < b.y + LINE);
      if (i < 0) return tooltip.hide();
      root.dataset.hoveredToken = String(i);
      tooltip.show(describe(i), event.clientX, event.clientY);
    });
    canvas.addEventListener("mouseleave", () => tooltip.hide());
    return canvas;
  }

  function shownClass() {
    const index = result?.index ?? get("index");
    return get("target") >= 0 ? get("target") : argmax(take(probs, index).data);
  }

  function draw() {
    if (!result) return;
    const index = result.index;
    const shown = shownClass();
    const p = take(probs, index).data;
    const predicted = argmax(p);
    const label = setup.labels ? setup.labels[index] : null;
    summary.textContent =
      `example ${index}: predicted ${names[predicted]} (${(100 * p[predicted]).toFixed(1)}%)` +
      (label !== null ? ` · true ${names[label]}` : "") +
      ` · showing attribution to ${names[shown]} (p = ${(100 * p[shown]).toFixed(1)}%): red raises its score, blue lowers it`;
    root.dataset.index = String(index);
    root.dataset.shownClass = String(shown);
    const words = result.words;
    const chosen = get("method") === "all" ? setup.methods.map((m) => m.value) : [get("method")];
    const children = [];
    for (const m of chosen) {
      const values = take(result.maps[m], shown).data;
      const { t, scale } = normalize(values, { sign: "all", clip: 100 });
      const bar = createColorbar({ role: `colorbar-${m}`, width: 180 });
      bar.update({ lut, sign: "all", scale, caption: methods[m].units });
      const canvas = tokenCanvas(
        `tokens-${m}`,
        words,
        (i) => ({ fill: lutColor(lut, t[i]), text: textOn(lut, t[i]) }),
        (i) => `${words[i]}·${i}  ${formatNumber(values[i])}\n${methods[m].label}, class ${names[shown]}`,
      );
      children.push(
        h("div", { className: "jv-tokens-row", dataset: { method: m } }, [
          h("div", { className: "jv-tokens-label" }, [h("div", { className: "jv-tokens-name", text: methods[m].label }), bar.el]),
          canvas,
        ]),
      );
    }
    if (result.evidence) {
      const evidence = result.evidence;
      children.push(
        h("div", { className: "jv-tokens-row jv-tokens-evidence", dataset: { method: "evidence" } }, [
          h("div", { className: "jv-tokens-label" }, [
            h("div", { className: "jv-tokens-name", text: "evidence" }),
            h("div", { className: "jv-tokens-units", text: "ground truth: the tokens the label depends on (outlined)" }),
          ]),
          tokenCanvas(
            "evidence",
            words,
            (i) => (evidence[i] ? { fill: "#ffd43b", stroke: "#212529", strokeWidth: 2, text: "#111", bold: true } : { fill: "transparent", stroke: "#adb5bd", text: "#868e96" }),
            (i) => `${words[i]}·${i}: ${evidence[i] ? "evidence" : "not evidence"}`,
          ),
        ]),
      );
    }
    rows.replaceChildren(...children);
    root.dataset.drawn = String(Number(root.dataset.drawn ?? 0) + 1);
  }

  const controls = { index: indexSlider, target: classSelect, method: methodSelect };
  const listeners = Object.entries(controls).map(([name, control]) => {
    const cb = () => {
      control.set(get(name));
      draw();
    };
    model.on(`change:${name}`, cb);
    return [name, cb];
  });
  const onResult = () => {
    takeResult();
    draw();
  };
  model.on("change:_result", onResult);
  takeResult();
  const initial = get("_reply");
  if (initial?.error) errorBox.show(initial.error);
  draw();
  announceRendered(model);
  return () => {
    requester.dispose();
    for (const [name, cb] of listeners) model.off(`change:${name}`, cb);
    model.off("change:_result", onResult);
  };
}

export default { render };
