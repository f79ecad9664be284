// CodebookView: a VQ autoencoder's codebook. Usage per code (dead codes marked), an input's code
// map, and for the selected code its decoded image and typical inputs, all sent once: clicking a
// bar or a code-map cell, or moving the input slider, never asks the kernel.
import "../lib/theme.css";
import "./codebook_view.css";
import { createSlider } from "../lib/controls.js";
import { h, isolateKeys } from "../lib/dom.js";
import { fromPayload } from "../lib/ndarray.js";
import { announceRendered, onChange } from "../lib/sync.js";
import { drawImage } from "./latent_explorer.js";

const BARS_W = 520;
const BARS_H = 150;
const CELL = 34;

function render({ model, el }) {
  const root = h("div", { className: "jaxviz-root jaxviz-codebook-view" });
  isolateKeys(root);
  el.append(root);
  const counts = fromPayload(model.get("counts")).data;
  const dead = new Set(model.get("dead"));
  const codeImages = fromPayload(model.get("code_images"));
  const examples = fromPayload(model.get("examples"));
  const inputs = fromPayload(model.get("inputs"));
  const recons = fromPayload(model.get("reconstructions"));
  const maps = fromPayload(model.get("code_maps"));
  const lut = fromPayload(model.get("lut")).data;
  const range = model.get("value_range");
  const K = counts.length;
  const [shownCount, rows, cols] = maps.shape;
  const codeColor = (c) => {
    const o = Math.round(((c % 20) / 19) * 255) * 4;
    return `rgb(${lut[o]}, ${lut[o + 1]}, ${lut[o + 2]})`;
  };
  let inputShown = 0;

  const bars = h("canvas", { className: "jv-codebook-bars", dataset: { role: "usage", control: "code" }, attrs: { "aria-label": "usage per code; click a bar to select its code" } });
  const codeMap = h("canvas", { className: "jv-codebook-map", dataset: { role: "code-map" } });
  const inputImage = h("canvas", { className: "jv-codebook-image", dataset: { role: "input" } });
  const reconImage = h("canvas", { className: "jv-codebook-image", dataset: { role: "reconstruction" } });
  const codeImage = h("canvas", { className: "jv-codebook-image", dataset: { role: "code-image" } });
  const exampleRow = h("div", { className: "jv-codebook-row", dataset: { role: "examples" } });
  const codeTitle = h("div", { className: "jv-codebook-subtitle", dataset: { role: "code-title" } });
  const slider = createSlider({
    name: "input", label: "input", min: 0, max: shownCount - 1, value: 0,
    onInput: (i) => {
      inputShown = i;
      model.set("input", i);
      model.save_changes();
      drawInput();
    },
  });
  const deadText = dead.size ? `${dead.size} dead code${dead.size > 1 ? "s" : ""} (\u00d7)` : "no dead codes";
  root.append(
    h("div", { className: "jv-codebook-title" }, [
      h("span", { text: "Codebook" }),
      h("span", { className: "jv-codebook-status", dataset: { role: "status" }, text: `perplexity ${model.get("perplexity").toFixed(1)} of ${K} codes \u00b7 ${deadText}` }),
    ]),
    bars,
    h("div", { className: "jv-codebook-main" }, [
      h("div", { className: "jv-codebook-panel" }, [
        slider.el,
        h("div", { className: "jv-codebook-row" }, [
          h("figure", {}, [inputImage, h("figcaption", { text: "input" })]),
          h("figure", {}, [codeMap, h("figcaption", { text: "its code map (click a code)" })]),
          h("figure", {}, [reconImage, h("figcaption", { text: "decoded" })]),
        ]),
      ]),
      h("div", { className: "jv-codebook-panel" }, [
        codeTitle,
        h("div", { className: "jv-codebook-row" }, [
          h("figure", {}, [codeImage, h("figcaption", { text: "this code everywhere, decoded" })]),
        ]),
        h("div", { className: "jv-codebook-subtitle", text: "inputs that use it most" }),
        exampleRow,
      ]),
    ]),
  );

  function selectCode(c) {
    model.set("code", c);
    model.save_changes();
    drawBars();
    drawCode();
  }

  function drawBars() {
    const dpr = window.devicePixelRatio || 1;
    bars.width = Math.round(BARS_W * dpr);
    bars.height = Math.round(BARS_H * dpr);
    bars.style.width = `${BARS_W}px`;
    bars.style.height = `${BARS_H}px`;
    const ctx = bars.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, BARS_W, BARS_H);
    const top = Math.max(...counts, 1);
    const w = BARS_W / K;
    const base = BARS_H - 18;
    const selected = model.get("code");
    ctx.font = "10px sans-serif";
    ctx.textAlign = "center";
    for (let c = 0; c < K; c++) {
      const height = (counts[c] / top) * (base - 6);
      ctx.fillStyle = codeColor(c);
      ctx.fillRect(c * w + 1, base - height, w - 2, height);
      if (c === selected) {
        ctx.strokeStyle = "#000";
        ctx.lineWidth = 2;
        ctx.strokeRect(c * w + 1, 2, w - 2, base - 2);
      }
      ctx.fillStyle = dead.has(c) ? "#c92a2a" : "#555";
      ctx.fillText(dead.has(c) ? "\u00d7" : String(c), c * w + w / 2, base + 12);
    }
  }

  function drawInput() {
    const i = inputShown;
    drawImage(inputImage, inputs, i, range, 110);
    drawImage(reconImage, recons, i, range, 110);
    codeMap.width = cols * CELL;
    codeMap.height = rows * CELL;
    const ctx = codeMap.getContext("2d");
    ctx.font = "bold 12px sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    const selected = model.get("code");
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const code = maps.data[(i * rows + r) * cols + c];
        ctx.fillStyle = codeColor(code);
        ctx.fillRect(c * CELL, r * CELL, CELL - 1, CELL - 1);
        ctx.fillStyle = "#111";
        ctx.fillText(String(code), c * CELL + CELL / 2, r * CELL + CELL / 2);
        if (code === selected) {
          ctx.strokeStyle = "#000";
          ctx.lineWidth = 3;
          ctx.strokeRect(c * CELL + 1.5, r * CELL + 1.5, CELL - 4, CELL - 4);
        }
      }
    }
  }

  function drawCode() {
    const c = model.get("code");
    codeTitle.textContent = `code ${c}: used at ${counts[c]} positions${dead.has(c) ? " (dead)" : ""}`;
    drawImage(codeImage, codeImages, c, range, 110);
    const k = examples.shape[1];
    const row = [];
    for (let j = 0; j < k; j++) {
      const e = examples.data[c * k + j];
      if (e < 0) continue;
      const canvas = h("canvas", { className: "jv-codebook-image" });
      drawImage(canvas, inputs, e, range, 56);
      row.push(canvas);
    }
    exampleRow.replaceChildren(...(row.length ? row : [h("span", { className: "jv-codebook-subtitle", text: "no input uses this code" })]));
    drawInput();
  }

  bars.addEventListener("click", (event) => {
    const rect = bars.getBoundingClientRect();
    selectCode(Math.min(K - 1, Math.max(0, Math.floor(((event.clientX - rect.left) / rect.width) * K))));
  });
  codeMap.addEventListener("click", (event) => {
    const rect = codeMap.getBoundingClientRect();
    const c = Math.floor(((event.clientX - rect.left) / rect.width) * cols);
    const r = Math.floor(((event.clientY - rect.top) / rect.height) * rows);
    selectCode(maps.data[(inputShown * rows + r) * cols + c]);
  });

  inputShown = Math.min(model.get("input"), shownCount - 1);
  slider.set(inputShown);
  drawBars();
  drawCode();
  const off = [onChange(model, ["code"], () => { drawBars(); drawCode(); }),
    onChange(model, ["input"], () => { inputShown = model.get("input"); slider.set(inputShown); drawInput(); })];
  announceRendered(model);
  return () => off.forEach((f) => f());
}

export default { render };
