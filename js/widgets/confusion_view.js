// ConfusionView: the confusion matrix (rows: true class, columns: predicted), precision under each
// column and recall right of each row. A click on a cell lists its examples (thumbnails for images)
// in the browser; a click on an example asks the kernel for its attribution for the predicted
// class (the Explorer's machinery) and shows it beside the input.
import "../lib/theme.css";
import "../lib/flow.css";
import "./confusion_view.css";
import { lutFromPayload } from "../lib/colormap.js";
import { createSelect } from "../lib/controls.js";
import { createColorbar, createErrorBox } from "../lib/feedback.js";
import { formatNumber, h, isolateKeys } from "../lib/dom.js";
import { createHeatmap } from "../lib/heatmap.js";
import { fromPayload, take } from "../lib/ndarray.js";
import { announceRendered, createRequester } from "../lib/sync.js";

const MAX_SHOWN = 24;
const METHODS = [
  { value: "saliency", label: "Saliency" },
  { value: "grad_x_input", label: "Gradient × input" },
  { value: "integrated_gradients", label: "Integrated gradients" },
  { value: "smoothgrad", label: "SmoothGrad" },
];

function rgbaOf(thumb) {
  // (H, W, 3) uint8 -> (H, W, 4)
  const [hh, ww] = thumb.shape;
  const out = new Uint8Array(hh * ww * 4);
  for (let i = 0; i < hh * ww; i++) {
    out.set(thumb.data.subarray(3 * i, 3 * i + 3), 4 * i);
    out[4 * i + 3] = 255;
  }
  return { data: out, shape: [hh, ww, 4] };
}

function render({ model, el }) {
  const root = h("div", { className: "jaxviz-root jaxviz-confusion-view" });
  isolateKeys(root);
  el.append(root);
  const m = model.get("matrix");
  const names = m.class_names;
  const n = names.length;
  const counts = fromPayload(m.counts).data;
  const labels = fromPayload(m.labels).data;
  const preds = fromPayload(m.predictions).data;
  const images = model.get("images") ? fromPayload(model.get("images")) : null;
  const lut = lutFromPayload(model.get("luts").RdBu_r);
  const errors = createErrorBox();

  const table = h("table", { className: "jv-confusion", dataset: { role: "matrix" } });
  const cellInfo = h("div", { className: "jv-flow-caption", dataset: { role: "cell-title" } });
  const examples = h("div", { className: "jv-confusion-examples", dataset: { role: "examples" } });
  const detailTitle = h("div", { className: "jv-flow-caption", dataset: { role: "detail-title" } });
  const inputMap = createHeatmap({ role: "example-input", size: 160, label: "the example" });
  const attrMap = createHeatmap({ role: "attribution", size: 160, label: "its attribution" });
  const colorbar = createColorbar({ role: "attribution-colorbar", width: 160 });
  const requester = createRequester(model, {
    onReply: (reply) => {
      if (reply.error) errors.show(reply.error);
      else errors.clear();
      drawDetail();
    },
  });
  const methodSelect = createSelect({
    name: "method", label: "attribution", options: METHODS, value: model.get("method"),
    onChange: (v) => {
      model.set("method", v);
      requester.commit();
    },
  });

  root.append(
    h("div", { className: "jv-flow-title" }, [
      h("span", { text: "Confusion matrix" }),
      h("span", { className: "jv-flow-sub", text: `accuracy ${(100 * m.accuracy).toFixed(1)}% · rows: true class (R: recall) · columns: predicted (P: precision)` }),
    ]),
    h("div", { className: "jv-flow-row" }, [
      table,
      h("div", { className: "jv-flow-panel" }, [
        cellInfo,
        examples,
        methodSelect.el,
        detailTitle,
        h("div", { className: "jv-flow-row" }, [inputMap.el, attrMap.el]),
        colorbar.el,
        errors.el,
      ]),
    ]),
  );

  function cellExamples(t, p) {
    const out = [];
    for (let i = 0; i < labels.length; i++) if (labels[i] === t && preds[i] === p) out.push(i);
    return out;
  }

  function drawTable() {
    const [ct, cp] = model.get("cell");
    const rowSums = Array.from({ length: n }, (_, t) => counts.slice(t * n, t * n + n).reduce((a, b) => a + b, 0));
    const head = h("tr", {}, [h("th", { text: "true \\ predicted" }), ...names.map((c) => h("th", { text: c })), h("th", { text: "recall" })]);
    const rows = names.map((name, t) =>
      h("tr", {}, [
        h("th", { text: name }),
        ...names.map((_, p) => {
          const count = counts[t * n + p];
          const share = rowSums[t] ? count / rowSums[t] : 0;
          const td = h("td", {
            className: `jv-cell${t === p ? " jv-diag" : ""}${t === ct && p === cp ? " jv-picked" : ""}`,
            text: String(count),
            attrs: { title: `${count} examples of ${name} predicted as ${names[p]}`, tabindex: "0" },
            dataset: { role: "cell", true: String(t), pred: String(p) },
            style: { background: `rgba(${t === p ? "31,119,180" : "214,39,40"},${(0.08 + 0.8 * share).toFixed(3)})`, color: share > 0.55 ? "#fff" : "" },
          });
          td.addEventListener("click", () => pickCell(t, p));
          return td;
        }),
        h("td", { className: "jv-metric", text: m.recall[t] === null ? "-" : formatNumber(m.recall[t]) }),
      ]),
    );
    const precision = h("tr", {}, [h("th", { text: "precision" }), ...m.precision.map((v) => h("td", { className: "jv-metric", text: v === null ? "-" : formatNumber(v) })), h("td")]);
    table.replaceChildren(head, ...rows, precision);
  }

  function pickCell(t, p) {
    model.set("cell", [t, p]);
    model.save_changes();
    drawTable();
    drawExamples();
  }

  function drawExamples() {
    const [t, p] = model.get("cell");
    if (t < 0) {
      cellInfo.textContent = "Click a cell to see its examples.";
      examples.replaceChildren();
      return;
    }
    const found = cellExamples(t, p);
    cellInfo.textContent = `${found.length} examples of ${names[t]} predicted as ${names[p]}${found.length > MAX_SHOWN ? ` (first ${MAX_SHOWN})` : ""}: click one for its attribution`;
    examples.replaceChildren(
      ...found.slice(0, MAX_SHOWN).map((i) => {
        const button = h("button", { className: `jv-example${i === model.get("index") ? " jv-picked" : ""}`, attrs: { type: "button", title: `example ${i}` }, dataset: { role: "example", index: String(i) } });
        if (images) {
          const thumb = createHeatmap({ role: "thumbnail", size: 48 });
          thumb.draw({ image: rgbaOf(take(images, i)), lut, alpha: 0 });
          button.append(thumb.el);
        }
        button.append(h("span", { text: `#${i}` }));
        button.addEventListener("click", () => {
          model.set("index", i);
          requester.commit();
          drawExamples();
        });
        return button;
      }),
    );
  }

  function drawDetail() {
    const r = model.get("_result");
    if (!r || r.index === undefined) {
      detailTitle.textContent = "";
      return;
    }
    const map = fromPayload(r.map);
    detailTitle.textContent = `example #${r.index}: true ${names[labels[r.index]]}, predicted ${names[r.predicted]}; ${r.label} for ${names[r.predicted]}`;
    if (images) inputMap.draw({ image: rgbaOf(take(images, r.index)), lut, alpha: 0 });
    if (map.shape.length === 2) {
      const scale = attrMap.draw({ map: { data: map.data, shape: map.shape }, lut, sign: "all" });
      colorbar.update({ lut, sign: "all", scale, caption: "attribution (logit units)" });
    }
  }

  drawTable();
  drawExamples();
  drawDetail();
  model.on("change:_result", drawDetail);
  announceRendered(model);
  return () => requester.dispose();
}

export default { render };
