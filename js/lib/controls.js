// Form controls with stable test hooks: the element a person operates carries data-control.
// Sliders are native range inputs, so arrow keys, Home/End and PageUp/PageDown work.

import { formatNumber, h } from "./dom.js";

export function createSlider({ name, label, min, max, step = 1, value, format = formatNumber, onInput }) {
  const input = h("input", {
    className: "jv-slider-input",
    attrs: { type: "range", min, max, step, "aria-label": label },
    dataset: { control: name },
  });
  input.value = String(value);
  const readout = h("output", { className: "jv-readout", text: format(Number(value)) });
  const el = h("label", { className: "jv-field jv-slider" }, [
    h("span", { className: "jv-label", text: label }),
    input,
    readout,
  ]);
  input.addEventListener("input", () => {
    readout.textContent = format(Number(input.value));
    onInput?.(Number(input.value));
  });
  return {
    el,
    input,
    get: () => Number(input.value),
    set(v) {
      input.value = String(v);
      readout.textContent = format(Number(input.value));
    },
    setRange({ min: lo, max: hi }) {
      if (lo !== undefined) input.min = String(lo);
      if (hi !== undefined) input.max = String(hi);
    },
  };
}

/** A slider over a list of names (layers, say): the readout shows the name, onInput gets it. */
export function createNameSlider({ name, label, names, value, onInput }) {
  const slider = createSlider({
    name,
    label,
    min: 0,
    max: names.length - 1,
    value: Math.max(0, names.indexOf(value)),
    format: (i) => names[i] ?? "",
    onInput: (i) => onInput?.(names[i]),
  });
  return { ...slider, setName: (n) => slider.set(names.indexOf(n)) };
}

/** options: [{value, label}] (label shown as text). */
export function createSelect({ name, label, options, value, onChange }) {
  const select = h("select", { className: "jv-select", attrs: { "aria-label": label }, dataset: { control: name } });
  const el = h("label", { className: "jv-field" }, [h("span", { className: "jv-label", text: label }), select]);
  function setOptions(opts) {
    select.replaceChildren(
      ...opts.map((o) => {
        const opt = h("option", { text: o.label ?? o.value });
        opt.value = String(o.value);
        return opt;
      }),
    );
  }
  setOptions(options);
  select.value = String(value);
  select.addEventListener("change", () => onChange?.(select.value));
  return {
    el,
    input: select,
    get: () => select.value,
    set(v) {
      select.value = String(v);
    },
    setOptions,
  };
}

/** A segmented toggle: one button per option, exactly one pressed. */
export function createToggle({ name, label, options, value, onChange }) {
  const group = h("div", { className: "jv-toggle", attrs: { role: "group", "aria-label": label }, dataset: { control: name } });
  let current = String(value);
  const buttons = options.map((o) => {
    const b = h("button", { className: "jv-toggle-button", text: o.label ?? o.value, attrs: { type: "button" }, dataset: { value: o.value } });
    b.addEventListener("click", () => {
      set(o.value);
      onChange?.(String(o.value));
    });
    return b;
  });
  group.append(...buttons);
  function set(v) {
    current = String(v);
    for (const b of buttons) b.setAttribute("aria-pressed", String(b.dataset.value === current));
  }
  set(current);
  const el = h("div", { className: "jv-field" }, [h("span", { className: "jv-label", text: label }), group]);
  return { el, input: group, get: () => current, set };
}

export function createNumber({ name, label, value, step = "any", min, max, onChange }) {
  const input = h("input", {
    className: "jv-number",
    attrs: { type: "number", step, "aria-label": label, ...(min !== undefined ? { min } : {}), ...(max !== undefined ? { max } : {}) },
    dataset: { control: name },
  });
  input.value = String(value);
  input.addEventListener("change", () => onChange?.(Number(input.value)));
  const el = h("label", { className: "jv-field" }, [h("span", { className: "jv-label", text: label }), input]);
  return { el, input, get: () => Number(input.value), set: (v) => (input.value = String(v)) };
}
