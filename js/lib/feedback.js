// Legend (colorbar), tooltip, busy indicator and inline error box.

import { formatNumber, h } from "./dom.js";
import { colorbarTicks } from "./scale.js";

export function createColorbar({ role = "colorbar", width = 224 } = {}) {
  const bar = h("canvas", { className: "jv-colorbar-bar" });
  bar.width = 256;
  bar.height = 1;
  const labels = h("div", { className: "jv-colorbar-labels" });
  const caption = h("div", { className: "jv-colorbar-caption" });
  const el = h("div", { className: "jv-colorbar", dataset: { role }, style: { width: `${width}px` } }, [bar, labels, caption]);

  /**
   * Shows the LUT and its ticks in attribution units for `sign` and `scale`; `tickLabels`
   * (strings, spread evenly) replaces them for scales that are not attributions (log10 norms).
   */
  function update({ lut, sign, scale, caption: text = "", tickLabels }) {
    const ctx = bar.getContext("2d");
    const img = ctx.createImageData(256, 1);
    img.data.set(lut.subarray(0, 1024));
    ctx.putImageData(img, 0, 0);
    const ticks = tickLabels ?? colorbarTicks(sign, scale).map(formatNumber);
    labels.replaceChildren(...ticks.map((v) => h("span", { text: v })));
    caption.textContent = text;
  }
  return { el, update };
}

export function createTooltip(container) {
  const el = h("div", { className: "jv-tooltip", attrs: { role: "tooltip" } });
  el.hidden = true;
  container.append(el);
  return {
    el,
    show(text, clientX, clientY) {
      const box = container.getBoundingClientRect();
      el.textContent = text;
      el.hidden = false;
      el.style.left = `${clientX - box.left + 12}px`;
      el.style.top = `${clientY - box.top + 12}px`;
    },
    hide() {
      el.hidden = true;
    },
  };
}

export function createBusy() {
  const el = h("div", { className: "jv-busy", attrs: { role: "status", "aria-live": "polite" }, dataset: { role: "busy" } }, [
    h("span", { className: "jv-spinner", attrs: { "aria-hidden": "true" } }),
    h("span", { className: "jv-busy-text", text: "computing…" }),
  ]);
  el.hidden = true;
  return {
    el,
    set(busy) {
      el.hidden = !busy;
    },
  };
}

export function createErrorBox() {
  const message = h("span", { className: "jv-error-text" });
  const dismiss = h("button", { className: "jv-error-dismiss", text: "×", attrs: { type: "button", "aria-label": "dismiss" } });
  const el = h("div", { className: "jv-error", attrs: { role: "alert" }, dataset: { role: "error" } }, [message, dismiss]);
  el.hidden = true;
  dismiss.addEventListener("click", () => (el.hidden = true));
  return {
    el,
    show(text) {
      message.textContent = text;
      el.hidden = false;
    },
    clear() {
      message.textContent = "";
      el.hidden = true;
    },
  };
}
