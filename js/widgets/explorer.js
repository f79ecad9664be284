// jv.Explorer's front end. Everything a slider can reach cheaply is already here (every class's
// map for the current input and method, every input's image and prediction), so class, sign,
// colormap, opacity and clipping redraw synchronously; inputs, methods, layers and method
// options go to the kernel through the requester (latest request wins).
import "../lib/theme.css";
import "./explorer.css";
import { lutColor, lutFromPayload } from "../lib/colormap.js";
import { createNumber, createSelect, createSlider, createToggle } from "../lib/controls.js";
import { formatNumber, h, isolateKeys } from "../lib/dom.js";
import { createBusy, createColorbar, createErrorBox, createTooltip } from "../lib/feedback.js";
import { createHeatmap, imageCanvas } from "../lib/heatmap.js";
import { fromPayload, take } from "../lib/ndarray.js";
import { attributionScale, normalize, signedPart } from "../lib/scale.js";
import { announceRendered, createRequester } from "../lib/sync.js";
import { createTrustPanel } from "../lib/trust_panel.js";

const TOP_K = 5;
const TOP_FEATURES = 10;
const SIGN_OPTIONS = [
  { value: "all", label: "all" },
  { value: "positive", label: "positive" },
  { value: "negative", label: "negative" },
  { value: "absolute", label: "absolute" },
];

/** RGBA [H, W, 4] from a gray uint8 [H, W] image (what the attribution is blended over). */
function grayRGBA(gray) {
  const [hgt, wid] = gray.shape;
  const out = new Uint8Array(hgt * wid * 4);
  for (let i = 0; i < hgt * wid; i++) {
    out[i * 4] = out[i * 4 + 1] = out[i * 4 + 2] = gray.data[i];
    out[i * 4 + 3] = 255;
  }
  return { data: out, shape: [hgt, wid, 4] };
}

function argmax(values) {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

function topClasses(probs, k) {
  return Array.from(probs.keys())
    .sort((a, b) => probs[b] - probs[a])
    .slice(0, k);
}

/** Black or white text, whichever reads better on a LUT color. */
function textOn(lut, t) {
  const o = Math.max(0, Math.min(255, Math.round(t * 255))) * 4;
  const luma = 0.299 * lut[o] + 0.587 * lut[o + 1] + 0.114 * lut[o + 2];
  return luma > 140 ? "#111" : "#fff";
}

// -- LIME, KernelSHAP and LRP: their options, and the waterfall of additive values -------------

/** The controls of LIME (coalitions, kernel width), KernelSHAP (coalitions, what replaces a
 * missing feature) and LRP (composite); `draw(method)` shows only the selected method's. */
function createAgnosticControls({ get, ask, composites }) {
  const coalitions = createSlider({ name: "coalitions", label: "coalitions", min: 64, max: 2048, step: 64, value: get("coalitions"), onInput: (v) => ask("coalitions", v) });
  const kernelWidth = createNumber({ name: "kernel_width", label: "kernel width", value: get("kernel_width"), step: 0.05, min: 0.01, onChange: (v) => ask("kernel_width", v) });
  const masker = createToggle({
    name: "masker",
    label: "missing =",
    options: [{ value: "baseline", label: "zero baseline" }, { value: "background", label: "background rows" }],
    value: get("masker"),
    onChange: (v) => ask("masker", v),
  });
  const composite = createSelect({ name: "composite", label: "composite", options: composites.map((c) => ({ value: c })), value: get("composite"), onChange: (v) => ask("composite", v) });
  const byTrait = { coalitions, kernel_width: kernelWidth, masker, composite };
  return {
    els: Object.values(byTrait).map((c) => c.el),
    byTrait,
    draw(method) {
      for (const [option, control] of Object.entries(byTrait)) control.el.hidden = !method?.options.includes(option);
    },
  };
}

/** Additive values (Shapley values) of one example and class as a waterfall, as shap draws it:
 * from the base (bottom) feature by feature to the output f(x) (top), largest on top, the rest
 * summed in one row. base = f(x) - sum(values) (efficiency). */
function drawWaterfall(container, values, { names, x, output, top = TOP_FEATURES }) {
  const order = Array.from(values.keys()).sort((a, b) => Math.abs(values[b]) - Math.abs(values[a]));
  const shown = order.slice(0, top);
  const rest = order.slice(top);
  const total = Array.from(values).reduce((s, v) => s + v, 0);
  const base = output - total;
  // Bottom to top: the rest, then the shown features from the smallest to the largest.
  const steps = [];
  if (rest.length) steps.push({ name: `${rest.length} other features`, value: rest.reduce((s, f) => s + values[f], 0), rest: true });
  for (const f of shown.slice().reverse()) steps.push({ name: `${names[f]} = ${formatNumber(x[f])}`, value: values[f] });
  let at = base;
  for (const step of steps) {
    step.start = at;
    at += step.value;
  }
  const ends = steps.flatMap((s) => [s.start, s.start + s.value]).concat([base, output]);
  const low = Math.min(...ends);
  const span = Math.max(...ends) - low || 1;
  const pct = (v) => `${(100 * (v - low)) / span}%`;
  const marker = (label, value) =>
    h("div", { className: "jv-waterfall-row jv-waterfall-end" }, [
      h("span", { className: "jv-feature-name", text: `${label} = ${formatNumber(value)}` }),
      h("span", { className: "jv-feature-track" }, [h("span", { className: "jv-waterfall-mark", style: { left: pct(value) } })]),
      h("span", { className: "jv-feature-value" }),
    ]);
  const rows = steps
    .slice()
    .reverse()
    .map((step) =>
      h("div", { className: `jv-waterfall-row${step.rest ? " jv-feature-rest" : ""}` }, [
        h("span", { className: "jv-feature-name", text: step.name, attrs: { title: step.name } }),
        h("span", { className: "jv-feature-track" }, [
          h("span", {
            className: `jv-waterfall-bar${step.rest ? " jv-rest" : step.value < 0 ? " jv-negative" : " jv-positive"}`,
            style: { left: pct(Math.min(step.start, step.start + step.value)), width: `${(100 * Math.abs(step.value)) / span}%` },
          }),
        ]),
        h("span", { className: "jv-feature-value", text: `${step.value >= 0 ? "+" : ""}${formatNumber(step.value)}` }),
      ]),
    );
  const chart = h("div", { className: "jv-waterfall", dataset: { role: "waterfall", base: String(base), output: String(output) } }, [marker("f(x)", output), ...rows, marker("base", base)]);
  container.replaceChildren(chart);
}

function decodeResult(result) {
  if (!result?.maps) return null;
  const compare = {};
  for (const [m, p] of Object.entries(result.compare ?? {})) compare[m] = fromPayload(p);
  return { index: result.index, method: result.method, maps: fromPayload(result.maps), compare };
}

function render({ model, el }) {
  const setup = model.get("_setup");
  const inputs = model.get("_inputs");
  const kind = setup.kind;
  const probs = fromPayload(setup.probs);
  const [count, classes] = probs.shape;
  const names = setup.class_names;
  const labels = setup.labels;
  const methods = Object.fromEntries(setup.methods.map((m) => [m.value, m]));
  const luts = Object.fromEntries(Object.entries(setup.colormaps.luts).map(([k, v]) => [k, lutFromPayload(v)]));
  const images = kind === "image" ? fromPayload(inputs.images) : null;
  const grays = kind === "image" ? fromPayload(inputs.gray) : null;
  const values = kind === "vector" ? fromPayload(inputs.values) : null;
  const grayCache = new Map();
  let result = decodeResult(model.get("_result"));
  let resultSource = model.get("_result");

  const root = h("div", { className: `jaxviz-root jaxviz-explorer jv-kind-${kind}` });
  isolateKeys(root);
  el.replaceChildren(root);
  const tooltip = createTooltip(root);

  // -- state helpers ---------------------------------------------------------------------------
  const get = (name) => model.get(name);
  const predicted = (index) => argmax(take(probs, index).data);
  const shownClass = () => (get("target") >= 0 ? get("target") : predicted(get("index")));
  const signNow = () => get("sign");
  const lutNow = () => luts[get("cmap") === "auto" ? setup.colormaps.defaults[signNow()] : get("cmap")];
  const grayOf = (index) => {
    if (!grayCache.has(index)) grayCache.set(index, grayRGBA(take(grays, index)));
    return grayCache.get(index);
  };

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

  function takeResult() {
    const raw = model.get("_result");
    if (raw !== resultSource) {
      resultSource = raw;
      result = decodeResult(raw);
    }
  }

  /** A control that needs the kernel. */
  function ask(name, value) {
    model.set(name, value);
    requester.commit();
    drawAll();
  }

  /** A control the browser answers by itself; the trait still syncs so Python can read it. */
  function local(name, value) {
    model.set(name, value);
    model.save_changes();
    drawMain();
  }

  // -- header ----------------------------------------------------------------------------------
  const about = h("div", { className: "jv-about" });
  const header = h("div", { className: "jv-header" }, [h("span", { className: "jv-title", text: "Explorer" }), about, busy.el]);

  // -- input strip -----------------------------------------------------------------------------
  const strip = h("div", { className: "jv-strip", attrs: { role: "group", "aria-label": "inputs" } });
  const thumbs = [];
  for (let i = 0; i < count; i++) {
    const wrong = labels && labels[i] !== predicted(i);
    const thumb = h("button", {
      className: `jv-thumb${wrong ? " jv-wrong" : ""}`,
      attrs: { type: "button", title: `input ${i}${labels ? `: ${names[labels[i]]}` : ""}${wrong ? ` (predicted ${names[predicted(i)]})` : ""}` },
      dataset: { index: i },
    });
    if (kind === "image") {
      const c = imageCanvas(take(images, i));
      c.className = "jv-thumb-canvas";
      thumb.append(c);
    } else {
      thumb.append(h("span", { text: `#${i}` }));
    }
    thumb.addEventListener("click", () => selectInput(i));
    thumbs.push(thumb);
    strip.append(thumb);
  }
  const inputSlider = createSlider({
    name: "input",
    label: "input",
    min: 0,
    max: count - 1,
    step: 1,
    value: get("index"),
    format: (v) => `${v} / ${count - 1}`,
    onInput: (v) => selectInput(v),
  });
  function selectInput(i) {
    if (i === get("index")) return;
    inputSlider.set(i);
    ask("index", i);
  }

  // -- main views ------------------------------------------------------------------------------
  const inputView = kind === "image" ? createHeatmap({ role: "input", label: "input" }) : null;
  const inputCaption = h("div", { className: "jv-caption" });
  const attributionView = kind === "image" ? createHeatmap({ role: "attribution", label: "attribution" }) : null;
  const attributionBox = kind === "image" ? attributionView.el : h("div", { className: `jv-${kind}-view`, dataset: { role: "attribution" } });
  const colorbar = createColorbar({ width: 224 });
  const attributionCaption = h("div", { className: "jv-caption" });
  const predictions = h("div", { className: "jv-predictions", dataset: { role: "predictions" } });

  const panels = h("div", { className: "jv-panels" }, [
    inputView && h("div", { className: "jv-panel" }, [inputView.el, inputCaption]),
    h("div", { className: "jv-panel jv-panel-attribution" }, [attributionBox, kind === "vector" ? null : colorbar.el, attributionCaption]),
    h("div", { className: "jv-panel jv-panel-predictions" }, [h("div", { className: "jv-panel-title", text: "prediction" }), predictions]),
  ]);
  const compareRow = h("div", { className: "jv-compare", dataset: { role: "compare" } });

  if (attributionView) {
    attributionView.el.addEventListener("mousemove", (e) => {
      const v = attributionView.valueAt(e);
      if (v) tooltip.show(`(${v.row}, ${v.col})  ${formatNumber(v.value)}`, e.clientX, e.clientY);
      else tooltip.hide();
    });
    attributionView.el.addEventListener("mouseleave", () => tooltip.hide());
  }

  // -- controls --------------------------------------------------------------------------------
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
    options: setup.methods.map((m) => ({ value: m.value, label: m.label })),
    value: get("method"),
    onChange: (v) => ask("method", v),
  });
  const layerSelect = createSelect({
    name: "layer",
    label: "layer",
    options: setup.layers.map((l) => ({ value: l, label: l })),
    value: get("layer"),
    onChange: (v) => ask("layer", v),
  });
  const stepsSlider = createSlider({ name: "steps", label: "IG steps", min: 2, max: 128, step: 1, value: get("steps"), onInput: (v) => ask("steps", v) });
  const samplesSlider = createSlider({ name: "samples", label: "samples", min: 1, max: 64, step: 1, value: get("samples"), onInput: (v) => ask("samples", v) });
  const noiseBox = createNumber({ name: "noise", label: "noise", value: get("noise"), step: 0.05, onChange: (v) => ask("noise", v) });
  const windowSlider = createSlider({ name: "window", label: "window", min: 1, max: 16, step: 1, value: get("window"), onInput: (v) => ask("window", v) });
  const signToggle = createToggle({ name: "sign", label: "sign", options: SIGN_OPTIONS, value: get("sign"), onChange: (v) => local("sign", v) });
  const alphaSlider = createSlider({ name: "alpha", label: "opacity", min: 0, max: 1, step: 0.05, value: get("alpha"), onInput: (v) => local("alpha", v) });
  const cmapSelect = createSelect({
    name: "cmap",
    label: "colors",
    options: [{ value: "auto", label: "default" }, ...setup.colormaps.names.map((n) => ({ value: n }))],
    value: get("cmap"),
    onChange: (v) => local("cmap", v),
  });
  const clipSlider = createSlider({ name: "clip", label: "clip at percentile", min: 80, max: 100, step: 0.5, value: get("clip"), onInput: (v) => local("clip", v) });
  const compareToggle = createToggle({
    name: "compare",
    label: "view",
    options: [{ value: "single", label: "one method" }, { value: "compare", label: "compare methods" }],
    value: get("compare") ? "compare" : "single",
    onChange: (v) => ask("compare", v === "compare"),
  });
  const scaleToggle = createToggle({
    name: "scale",
    label: "scale",
    options: [{ value: "per_method", label: "per method" }, { value: "shared", label: "shared" }],
    value: get("scale"),
    onChange: (v) => local("scale", v),
  });
  if (kind !== "image") alphaSlider.el.hidden = true;
  const agnostic = createAgnosticControls({ get, ask, composites: setup.composites });
  const logits = fromPayload(setup.logits);

  const controls = h("div", { className: "jv-controls" }, [
    h("div", { className: "jv-row" }, [classSelect.el, methodSelect.el, layerSelect.el, stepsSlider.el, samplesSlider.el, noiseBox.el, windowSlider.el, ...agnostic.els]),
    h("div", { className: "jv-row" }, [signToggle.el, alphaSlider.el, cmapSelect.el, clipSlider.el]),
    h("div", { className: "jv-row" }, [compareToggle.el, scaleToggle.el]),
  ]);

  if (kind === "image") panels.querySelector(".jv-panel-attribution").after(createTrustPanel({ model }).el); // the trust panel
  root.append(header, h("div", { className: "jv-strip-row" }, [strip, inputSlider.el]), errorBox.el, panels, compareRow, controls);

  // -- drawing ---------------------------------------------------------------------------------
  function drawStrip() {
    const index = get("index");
    thumbs.forEach((t, i) => t.setAttribute("aria-current", String(i === index)));
    const t = thumbs[index];
    if (t && strip.scrollWidth > strip.clientWidth) {
      strip.scrollLeft = t.offsetLeft - strip.clientWidth / 2 + t.offsetWidth / 2;
    }
  }

  function drawControls() {
    const method = methods[get("method")];
    about.textContent = method ? `${method.label}: ${method.about}` : "";
    layerSelect.el.hidden = !method?.needs_layer;
    stepsSlider.el.hidden = !method?.options.includes("steps");
    samplesSlider.el.hidden = !method?.options.includes("samples");
    noiseBox.el.hidden = !method?.options.includes("noise");
    windowSlider.el.hidden = !method?.options.includes("window");
    scaleToggle.el.hidden = !get("compare");
    agnostic.draw(method);
  }

  function drawPredictions(index, shown) {
    const p = take(probs, index).data;
    const rows = topClasses(p, Math.min(TOP_K, classes));
    const label = labels ? labels[index] : null;
    for (const extra of [shown, label]) if (extra !== null && !rows.includes(extra)) rows.push(extra);
    predictions.replaceChildren(
      ...rows.map((c) => {
        const bar = h("span", { className: "jv-bar-fill", style: { width: `${(100 * p[c]).toFixed(1)}%` } });
        const row = h(
          "button",
          {
            className: `jv-bar${c === shown ? " jv-shown" : ""}`,
            attrs: { type: "button", title: `show the attribution for ${names[c]}`, "aria-pressed": String(c === shown) },
            dataset: { class: c },
          },
          [
            h("span", { className: "jv-bar-label" }, [
              h("span", { className: "jv-bar-name", text: names[c] }),
              c === label ? h("span", { className: "jv-true", text: "true" }) : null,
            ]),
            h("span", { className: "jv-bar-track" }, [bar]),
            h("span", { className: "jv-bar-value", text: `${(100 * p[c]).toFixed(1)}%` }),
          ],
        );
        row.addEventListener("click", () => {
          classSelect.set(c);
          local("target", c);
        });
        return row;
      }),
    );
  }

  function drawVector(container, map, index, { top = TOP_FEATURES } = {}) {
    const sign = signNow();
    const lut = lutNow();
    const { t, scale } = normalize(map.data, { sign, clip: get("clip") });
    const order = Array.from(map.data.keys()).sort((a, b) => Math.abs(signedPart(map.data[b], sign)) - Math.abs(signedPart(map.data[a], sign)));
    const shownRows = order.slice(0, top);
    const rest = order.slice(top);
    const featureNames = inputs.feature_names;
    const x = take(values, index).data;
    const rows = shownRows.map((f) => {
      const v = signedPart(map.data[f], sign);
      const width = scale > 0 ? Math.min(1, Math.abs(v) / scale) : 0;
      return h("div", { className: "jv-feature" }, [
        h("span", { className: "jv-feature-name", text: `${featureNames[f]} = ${formatNumber(x[f])}` }),
        h("span", { className: `jv-feature-track${sign === "all" ? " jv-centered" : ""}` }, [
          h("span", {
            className: `jv-feature-bar${v < 0 ? " jv-negative" : ""}`,
            style: { width: `${(sign === "all" ? 50 : 100) * width}%`, background: lutColor(lut, t[f]) },
          }),
        ]),
        h("span", { className: "jv-feature-value", text: formatNumber(map.data[f]) }),
      ]);
    });
    if (rest.length) {
      const sum = rest.reduce((s, f) => s + map.data[f], 0);
      rows.push(h("div", { className: "jv-feature jv-feature-rest" }, [h("span", { className: "jv-feature-name", text: `${rest.length} other features` }), h("span", { className: "jv-feature-track" }), h("span", { className: "jv-feature-value", text: formatNumber(sum) })]));
    }
    container.replaceChildren(...rows);
  }

  function drawSequence(container, map, index) {
    const sign = signNow();
    const lut = lutNow();
    const { t } = normalize(map.data, { sign, clip: get("clip") });
    const tokens = inputs.tokens[index];
    container.replaceChildren(
      ...tokens.map((tok, i) =>
        h("span", {
          className: "jv-token",
          text: tok,
          attrs: { title: `${tok}: ${formatNumber(map.data[i])}` },
          style: { background: lutColor(lut, t[i]), color: textOn(lut, t[i]) },
        }),
      ),
    );
    return attributionScale(map.data, { sign, clip: get("clip") });
  }

  function drawCompare(index, shown) {
    const show = get("compare") && result && result.index === index;
    compareRow.hidden = !show;
    if (!show) return;
    const entries = setup.compare_methods.filter((m) => result.compare[m]).map((m) => [m, take(result.compare[m], shown)]);
    const sign = signNow();
    const shared = get("scale") === "shared" ? attributionScale(entries.map(([, map]) => map.data), { sign, clip: get("clip") }) : undefined;
    compareRow.replaceChildren(
      ...entries.map(([m, map]) => {
        const cell = h("div", { className: "jv-compare-cell" }, [h("div", { className: "jv-caption", text: methods[m].label })]);
        if (kind === "image") {
          const view = createHeatmap({ role: `compare-${m}`, size: 140, label: methods[m].label });
          view.draw({ map, image: grayOf(index), lut: lutNow(), sign, clip: get("clip"), alpha: get("alpha"), scale: shared });
          cell.prepend(view.el);
        } else {
          const box = h("div", { className: `jv-${kind}-view jv-mini`, dataset: { role: `compare-${m}` } });
          if (kind === "vector") drawVector(box, map, index, { top: 5 });
          else drawSequence(box, map, index);
          cell.prepend(box);
        }
        return cell;
      }),
    );
  }

  /** Everything that depends on the class and the browser-side view options. */
  function drawMain() {
    const index = get("index");
    const shown = shownClass();
    const sign = signNow();
    const lut = lutNow();
    const fresh = result && result.index === index && result.method === get("method");
    root.dataset.index = String(index);
    root.dataset.shownClass = String(shown);
    root.dataset.resultIndex = String(result?.index ?? "");
    root.dataset.resultMethod = result?.method ?? "";
    attributionBox.classList.toggle("jv-stale", !fresh);
    if (inputView) inputView.draw({ image: take(images, index) });
    inputCaption.textContent = `input ${index}${labels ? ` · true: ${names[labels[index]]}` : ""}`;
    drawPredictions(index, shown);
    if (result) {
      const map = take(result.maps, Math.min(shown, result.maps.shape[0] - 1));
      let scale;
      if (kind === "image") {
        scale = attributionView.draw({ map, image: grayOf(result.index), lut, sign, clip: get("clip"), alpha: get("alpha") });
      } else if (kind === "vector" && methods[result.method]?.additive) {
        const output = take(logits, result.index).data[Math.min(shown, result.maps.shape[0] - 1)];
        drawWaterfall(attributionBox, map.data, { names: inputs.feature_names, x: take(values, result.index).data, output });
      } else if (kind === "vector") {
        drawVector(attributionBox, map, result.index);
      } else {
        scale = drawSequence(attributionBox, map, result.index);
      }
      if (scale !== undefined) colorbar.update({ lut, sign, scale, caption: sign === "all" ? "attribution" : `${sign} attribution` });
      attributionCaption.textContent = `${methods[result.method]?.label ?? result.method} for class ${names[shown]}`;
    }
    drawCompare(index, shown);
    root.dataset.drawn = String(Number(root.dataset.drawn ?? 0) + 1);
  }

  function drawAll() {
    drawStrip();
    drawControls();
    drawMain();
  }

  // Trait changes made in Python (a person typing `w.method = "gradcam"`) update the controls.
  const controlsByTrait = {
    index: inputSlider,
    method: methodSelect,
    layer: layerSelect,
    steps: stepsSlider,
    samples: samplesSlider,
    noise: noiseBox,
    window: windowSlider,
    target: classSelect,
    sign: signToggle,
    alpha: alphaSlider,
    cmap: cmapSelect,
    clip: clipSlider,
    scale: scaleToggle,
    ...agnostic.byTrait,
  };
  const listeners = Object.entries(controlsByTrait).map(([trait, control]) => {
    const cb = () => {
      control.set(get(trait));
      drawAll();
    };
    model.on(`change:${trait}`, cb);
    return [trait, cb];
  });
  const onCompare = () => {
    compareToggle.set(get("compare") ? "compare" : "single");
    drawAll();
  };
  model.on("change:compare", onCompare);

  const initial = model.get("_reply");
  if (initial?.error) errorBox.show(initial.error);
  drawAll();
  announceRendered(model);

  return () => {
    requester.dispose();
    for (const [trait, cb] of listeners) model.off(`change:${trait}`, cb);
    model.off("change:compare", onCompare);
  };
}

export default { render };
