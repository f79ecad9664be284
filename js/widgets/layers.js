// LayerExplorer: a network layer by layer. Every layer's activations for every shown input arrive
// once, so the layer and input sliders redraw in the browser; a clicked channel's detail (top
// dataset examples, back-projections, feature visualization) is asked of the kernel.
import "../lib/theme.css";
import "./layers.css";

import { lutFromPayload } from "../lib/colormap.js";
import { createNameSlider, createSlider } from "../lib/controls.js";
import { formatNumber, h, isolateKeys } from "../lib/dom.js";
import { createBusy, createColorbar, createErrorBox, createTooltip } from "../lib/feedback.js";
import { createHeatmap } from "../lib/heatmap.js";
import { fromPayload, take } from "../lib/ndarray.js";
import { announceRendered, createRequester } from "../lib/sync.js";

const STAT_NAMES = ["mean", "max", "min", "active"];

/** One channel's map of one input: {data, shape: [h, w]} (a dense layer: one row of cells). */
export function channelMap(activations, input, channel) {
  const one = take(activations, input);
  const channels = one.shape[one.shape.length - 1];
  const size = one.data.length / channels;
  const data = new Float32Array(size);
  for (let i = 0; i < size; i++) data[i] = one.data[i * channels + channel];
  return { data, shape: one.shape.length === 3 ? one.shape.slice(0, 2) : [1, size] };
}

/** A dense layer's neurons as a heat strip wrapped into rows of `columns` cells (NaN pads). */
export function denseStrip(activations, input, columns) {
  const one = take(activations, input);
  const count = one.data.length;
  const rows = Math.ceil(count / columns);
  const data = new Float32Array(rows * columns).fill(NaN);
  data.set(one.data);
  return { data, shape: [rows, columns] };
}

/** Cell size of the channel grid: fewer channels, bigger cells. */
export function cellSize(count) {
  return count <= 16 ? 96 : count <= 32 ? 80 : 64;
}

function layerInfo(model, name) {
  const info = model.get("layer_data")[name];
  return {
    activations: fromPayload(info.activations),
    limits: fromPayload(info.limits).data,
    stats: fromPayload(info.stats),
    spatial: info.spatial,
    sign: info.sign,
  };
}

function statsText(stats, input, channel) {
  const row = take(take(stats, input), channel).data;
  return STAT_NAMES.map((n, i) => (n === "active" ? `active ${Math.round(row[i] * 100)}%` : `${n} ${formatNumber(row[i])}`)).join("  ");
}

function render({ model, el }) {
  const root = h("div", { className: "jaxviz-root jaxviz-layers" });
  isolateKeys(root);
  el.append(root);
  const names = model.get("layer_names");
  const inputs = fromPayload(model.get("inputs"));
  const luts = Object.fromEntries(Object.entries(model.get("luts")).map(([k, v]) => [k, lutFromPayload(v)]));
  const cache = new Map();
  const info = (name) => {
    if (!cache.has(name)) cache.set(name, layerInfo(model, name));
    return cache.get(name);
  };

  const busy = createBusy();
  const errors = createErrorBox();
  const requester = createRequester(model, {
    onBusy: busy.set,
    onReply: (reply) => {
      if (reply.error) errors.show(reply.error);
      else errors.clear();
      askForFeature();
    },
  });

  const layerSlider = createNameSlider({
    name: "layer",
    label: "layer",
    names,
    value: model.get("layer"),
    onInput: (layer) => {
      model.set("layer", layer);
      model.set("channel", -1);
      model.set("with_feature", false);
      requester.commit();
      draw();
    },
  });
  const inputSlider = createSlider({
    name: "input",
    label: "input",
    min: 0,
    max: inputs.shape[0] - 1,
    value: model.get("input_index"),
    format: (i) => `#${i}`,
    onInput: (i) => {
      model.set("input_index", i);
      model.save_changes();
      draw();
    },
  });
  const caption = h("div", { className: "jv-layers-caption", dataset: { role: "caption" } });
  const inputView = createHeatmap({ role: "input", size: 160, label: "input" });
  const colorbar = createColorbar({ width: 160 });
  const summary = h("div", { className: "jv-layers-summary", dataset: { role: "summary" } });
  const grid = h("div", { className: "jv-layers-grid", dataset: { role: "channels" } });
  const detail = h("div", { className: "jv-layers-detail", dataset: { role: "detail" } });
  detail.hidden = true;

  root.append(
    h("div", { className: "jv-layers-controls" }, [layerSlider.el, inputSlider.el, busy.el]),
    errors.el,
    h("div", { className: "jv-layers-main" }, [
      h("div", { className: "jv-layers-side" }, [inputView.el, caption, colorbar.el, summary]),
      grid,
    ]),
    detail,
  );
  const tooltip = createTooltip(root);

  // The top examples arrive first; the feature visualization (an optimization) is asked for next.
  function askForFeature() {
    const result = model.get("detail") ?? {};
    const current = result.layer === model.get("layer") && result.channel === model.get("channel");
    if (current && result.feature_pending && !model.get("with_feature")) {
      model.set("with_feature", true);
      requester.commit();
    }
  }

  function openChannel(channel) {
    model.set("channel", channel);
    model.set("with_feature", false);
    requester.commit();
    drawDetail();
  }

  function drawGrid(layer, input) {
    const { activations, limits, spatial, sign, stats } = info(layer);
    const lut = luts[sign];
    const limit = limits[input];
    const options = { lut, sign, scale: limit };
    const channels = activations.shape[activations.shape.length - 1];
    const selected = model.get("channel");
    if (!spatial) {
      const columns = Math.min(channels, 16);
      const strip = createHeatmap({ role: "channel", size: columns * 40, label: `${layer} neurons` });
      strip.draw({ map: denseStrip(activations, input, columns), ...options });
      strip.el.classList.add("jv-layers-strip");
      const hover = (event) => {
        const at = strip.valueAt(event);
        const index = at ? at.row * columns + at.col : -1;
        return index >= 0 && index < channels ? index : -1;
      };
      strip.el.addEventListener("mousemove", (event) => {
        const neuron = hover(event);
        if (neuron < 0) return tooltip.hide();
        tooltip.show(`neuron ${neuron}: ${formatNumber(take(activations, input).data[neuron])}`, event.clientX, event.clientY);
      });
      strip.el.addEventListener("mouseleave", () => tooltip.hide());
      strip.el.addEventListener("click", (event) => {
        const neuron = hover(event);
        if (neuron >= 0) openChannel(neuron);
      });
      grid.classList.add("jv-layers-dense");
      grid.replaceChildren(h("div", { className: "jv-layers-strip-label", text: `${channels} neurons, ${columns} per row (hover for values, click one for its detail)` }), strip.el);
      return;
    }
    grid.classList.remove("jv-layers-dense");
    const size = cellSize(channels);
    const cells = [];
    for (let c = 0; c < channels; c++) {
      const map = createHeatmap({ role: "channel", size, label: `channel ${c}` });
      map.draw({ map: channelMap(activations, input, c), ...options });
      const peak = take(take(stats, input), c).data[1];
      const cell = h("button", { className: "jv-layers-cell", attrs: { type: "button", "aria-label": `open channel ${c}` }, dataset: { channel: c } }, [
        map.el,
        h("span", { className: "jv-layers-cell-label", text: `#${c}` }),
        h("span", { className: "jv-layers-cell-label", text: `max ${formatNumber(peak)}` }),
      ]);
      if (c === selected) cell.classList.add("jv-selected");
      map.el.addEventListener("mousemove", (event) => {
        const at = map.valueAt(event);
        if (!at) return tooltip.hide();
        tooltip.show(`channel ${c} (${at.row}, ${at.col}): ${formatNumber(at.value)}\n${statsText(stats, input, c)}`, event.clientX, event.clientY);
      });
      map.el.addEventListener("mouseleave", () => tooltip.hide());
      cell.addEventListener("click", () => openChannel(c));
      cells.push(cell);
    }
    grid.style.setProperty("--jv-cell", `${size}px`);
    grid.replaceChildren(...cells);
  }

  function drawSide(layer, input) {
    const { activations, limits, sign } = info(layer);
    inputView.draw({ image: take(inputs, input) });
    caption.textContent = model.get("captions")[input] ?? "";
    colorbar.update({ lut: luts[sign], sign, scale: limits[input], caption: `${layer} activation` });
    const shape = activations.shape.slice(1);
    summary.textContent = `${layer}: ${shape.join(" × ")} (${shape.length === 3 ? "height × width × channels" : "neurons"})`;
  }

  function draw() {
    const layer = model.get("layer");
    const input = model.get("input_index");
    layerSlider.setName(layer);
    inputSlider.set(input);
    drawSide(layer, input);
    drawGrid(layer, input);
    drawDetail();
  }

  function imageStrip(role, payload, captions = []) {
    const images = fromPayload(payload);
    const items = [];
    for (let i = 0; i < images.shape[0]; i++) {
      const view = createHeatmap({ role, size: 72, label: `${role} ${i}` });
      view.draw({ image: take(images, i) });
      items.push(h("figure", { className: "jv-layers-thumb" }, [view.el, h("figcaption", { text: captions[i] ?? "" })]));
    }
    return h("div", { className: "jv-layers-row" }, items);
  }

  function mapStrip(role, payload) {
    const maps = fromPayload(payload);
    const items = [];
    for (let i = 0; i < maps.shape[0]; i++) {
      const view = createHeatmap({ role, size: 72, label: `${role} ${i}` });
      view.draw({ map: take(maps, i), lut: luts.all, sign: "all" });
      items.push(h("figure", { className: "jv-layers-thumb" }, [view.el]));
    }
    return h("div", { className: "jv-layers-row" }, items);
  }

  function section(title, body) {
    return h("section", { className: "jv-layers-section" }, [h("h4", { text: title }), body]);
  }

  function drawDetail() {
    const layer = model.get("layer");
    const channel = model.get("channel");
    if (channel < 0) {
      detail.hidden = true;
      detail.replaceChildren();
      return;
    }
    const input = model.get("input_index");
    const { activations, limits, sign, spatial, stats } = info(layer);
    const close = h("button", { className: "jv-layers-close", text: "close", attrs: { type: "button" }, dataset: { control: "close-detail" } });
    close.addEventListener("click", () => openChannel(-1));
    const head = h("div", { className: "jv-layers-detail-head" }, [
      h("strong", { text: `${layer} · ${spatial ? "channel" : "neuron"} ${channel}` }),
      h("span", { className: "jv-layers-stats", text: statsText(stats, input, channel) }),
      close,
    ]);
    const children = [head];
    const body = h("div", { className: "jv-layers-detail-body" });
    if (spatial) {
      const map = channelMap(activations, input, channel);
      const alone = createHeatmap({ role: "channel-map", size: 160, label: "activation map" });
      alone.draw({ map, lut: luts[sign], sign, scale: limits[input] });
      const overlay = createHeatmap({ role: "channel-overlay", size: 160, label: "activation over the input" });
      overlay.draw({ map, image: take(inputs, input), lut: luts[sign], sign, scale: limits[input], alpha: 0.5 });
      body.append(section("activation map, and over the input", h("div", { className: "jv-layers-pair" }, [alone.el, overlay.el])));
    }
    const result = model.get("detail") ?? {};
    const ready = result.layer === layer && result.channel === channel;
    const panels = h("div", { className: "jv-layers-panels" });
    if (!ready) {
      panels.append(h("div", { className: "jv-layers-waiting", text: "computing the top examples and the feature visualization…" }));
    } else {
      const values = result.top_values.map((v, i) => `#${result.top_indices[i]}: ${formatNumber(v)}`);
      panels.append(section("top dataset examples (index: peak activation)", imageStrip("top-example", result.top_images, values)));
      if (result.patches) panels.append(section(`receptive field around each peak (${result.field.join("×")} pixels)`, imageStrip("patch", result.patches)));
      if (result.backprojections) panels.append(section("deconvnet back-projection of each example", mapStrip("backprojection", result.backprojections)));
      if (result.feature_pending) {
        panels.append(section("feature visualization (optimized input)", h("div", { className: "jv-layers-waiting", text: "optimizing an input for this channel…" })));
      }
      if (result.feature) {
        const vis = createHeatmap({ role: "feature-visualization", size: 144, label: "feature visualization" });
        vis.draw({ image: take(fromPayload(result.feature), 0) });
        const ratio = result.feature_objective / Math.max(result.dataset_objective, 1e-12);
        const note = `mean activation over the map: ${formatNumber(result.feature_objective)}; the best dataset example's: ${formatNumber(result.dataset_objective)}${result.dataset_objective > 0 ? ` (×${formatNumber(ratio)})` : ""}`;
        panels.append(section("feature visualization (optimized input)", h("div", {}, [vis.el, h("div", { className: "jv-layers-note", text: note })])));
      }
    }
    body.append(panels);
    children.push(body);
    detail.replaceChildren(...children);
    detail.hidden = false;
    for (const cell of grid.querySelectorAll(".jv-layers-cell")) cell.classList.toggle("jv-selected", Number(cell.dataset.channel) === channel);
  }

  model.on("change:detail", drawDetail);
  draw();
  announceRendered(model);
  return () => {
    model.off("change:detail", drawDetail);
    requester.dispose();
  };
}

export default { render };
