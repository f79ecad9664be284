import { describe, expect, it, vi } from "vitest";
import { createSelect, createSlider, createToggle } from "../lib/controls.js";
import { formatNumber, h } from "../lib/dom.js";
import { createBusy, createErrorBox, createTooltip } from "../lib/feedback.js";
import { announceRendered, createRequester } from "../lib/sync.js";
import { decodeBuffers, StaticModel } from "../lib/static_model.js";

const hostile = "<img src=x onerror=alert(1)>";

describe("text goes in as text", () => {
  it("h() sets textContent, so markup stays visible characters", () => {
    const el = h("span", { text: hostile });
    expect(el.textContent).toBe(hostile);
    expect(el.querySelector("img")).toBeNull();
  });

  it("select options, toggles, errors and tooltips show hostile names as text", () => {
    const select = createSelect({ name: "class", label: "class", options: [{ value: 0, label: hostile }], value: 0 });
    const toggle = createToggle({ name: "sign", label: hostile, options: [{ value: "a", label: hostile }], value: "a" });
    const error = createErrorBox();
    error.show(hostile);
    const root = h("div");
    const tip = createTooltip(root);
    tip.show(hostile, 0, 0);
    for (const el of [select.el, toggle.el, error.el, root]) {
      expect(el.querySelector("img")).toBeNull();
      expect(el.textContent).toContain(hostile);
    }
  });
});

describe("slider", () => {
  it("carries data-control, reports input and updates its readout", () => {
    const onInput = vi.fn();
    const s = createSlider({ name: "alpha", label: "opacity", min: 0, max: 1, step: 0.1, value: 0.5, onInput });
    expect(s.input.dataset.control).toBe("alpha");
    expect(s.input.type).toBe("range");
    s.input.value = "0.7";
    s.input.dispatchEvent(new Event("input"));
    expect(onInput).toHaveBeenCalledWith(0.7);
    expect(s.el.querySelector("output").textContent).toBe("0.7");
  });
});

describe("toggle", () => {
  it("presses exactly the chosen button", () => {
    const onChange = vi.fn();
    const t = createToggle({ name: "sign", label: "sign", options: [{ value: "all" }, { value: "positive" }], value: "all", onChange });
    const [all, pos] = t.input.querySelectorAll("button");
    pos.click();
    expect(onChange).toHaveBeenCalledWith("positive");
    expect([all.getAttribute("aria-pressed"), pos.getAttribute("aria-pressed")]).toEqual(["false", "true"]);
  });
});

describe("feedback", () => {
  it("busy indicator and error box show and hide", () => {
    const busy = createBusy();
    busy.set(true);
    expect(busy.el.hidden).toBe(false);
    busy.set(false);
    expect(busy.el.hidden).toBe(true);
    const err = createErrorBox();
    err.show("ValueError: steps must be >= 1");
    expect(err.el.hidden).toBe(false);
    err.clear();
    expect(err.el.hidden).toBe(true);
  });

  it("formats numbers compactly", () => {
    expect([formatNumber(0), formatNumber(0.123456), formatNumber(12345), formatNumber(0.00012)]).toEqual([
      "0",
      "0.123",
      "1.23e+4",
      "1.20e-4",
    ]);
  });
});

/** A kernel-side model double: records what the front end sends, answers on demand. */
class FakeModel extends StaticModel {
  constructor(state) {
    super(state, [], []);
    this.sent = [];
  }
  save_changes() {
    this.sent.push({ ...this.state });
  }
  answer() {
    this.set("_reply", { id: this.state._request_id, seq: this.sent.length, error: null });
  }
}

describe("createRequester", () => {
  it("keeps one request in flight and sends only the latest state after it", () => {
    const model = new FakeModel({ _request_id: 0, input: 0 });
    const busy = [];
    const replies = [];
    const r = createRequester(model, { onBusy: (b) => busy.push(b), onReply: (x) => replies.push(x) });
    for (let i = 1; i <= 50; i++) {
      model.set("input", i);
      r.commit();
    }
    expect(model.sent).toHaveLength(1); // the first move only; the rest wait
    expect(model.sent[0].input).toBe(1);
    model.answer();
    expect(model.sent).toHaveLength(2); // the queued moves go out as one, with the last value
    expect(model.sent[1].input).toBe(50);
    expect(replies).toHaveLength(0);
    model.answer();
    expect(replies).toHaveLength(1);
    expect(r.busy()).toBe(false);
    expect(busy.at(-1)).toBe(false);
  });

  it("ignores a stale reply to an older request", () => {
    const model = new FakeModel({ _request_id: 3 });
    const replies = [];
    const r = createRequester(model, { onReply: (x) => replies.push(x) });
    r.commit();
    model.set("_reply", { id: 3, seq: 9, error: null });
    expect(replies).toHaveLength(0);
    expect(r.busy()).toBe(true);
  });
});

describe("announceRendered", () => {
  it("tells the kernel after the next frame, once, and is harmless without a kernel", async () => {
    const sent = [];
    announceRendered({ send: (content) => sent.push(content) });
    expect(sent).toHaveLength(0); // not before the frame that shows the first drawing
    await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
    expect(sent).toEqual([{ event: "rendered" }]);
    announceRendered(new StaticModel({}, [], []));
    await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
  });
});

describe("StaticModel", () => {
  it("answers requests from stored results and reports a missing one", async () => {
    const stored = [{ state: { method: "saliency", steps: 64 }, result: { _map: "A" } }];
    const model = new StaticModel({ method: "saliency", steps: 64, _map: "-", _request_id: 0 }, stored, ["method", "steps"]);
    model.set("steps", 64.0000000001);
    model.set("_request_id", 1);
    model.save_changes();
    await new Promise((r) => setTimeout(r, 1));
    expect(model.get("_map")).toBe("A");
    expect(model.get("_reply")).toMatchObject({ id: 1, error: null });
    model.set("method", "gradcam");
    model.set("_request_id", 2);
    model.save_changes();
    await new Promise((r) => setTimeout(r, 1));
    expect(model.get("_reply").error).toMatch(/stores only some results/);
  });

  it("decodes {$bytes: base64} placeholders into DataViews", () => {
    const decoded = decodeBuffers({ a: [{ buffer: { $bytes: btoa("\x01\x02\xff") } }] });
    const view = decoded.a[0].buffer;
    expect(view).toBeInstanceOf(DataView);
    expect([view.getUint8(0), view.getUint8(1), view.getUint8(2)]).toEqual([1, 2, 255]);
  });
});

describe("isolateKeys", () => {
  it("keeps arrow keys on a control from the notebook but lets Shift+Enter through", async () => {
    const { isolateKeys } = await import("../lib/dom.js");
    const root = h("div");
    const input = h("input", { attrs: { type: "range" } });
    root.append(input);
    document.body.append(root);
    isolateKeys(root);
    const seen = [];
    document.addEventListener("keydown", (e) => seen.push(e.key), true);
    input.dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowRight", bubbles: true }));
    input.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", shiftKey: true, bubbles: true }));
    root.dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowDown", bubbles: true }));
    expect(seen).toEqual(["Enter", "ArrowDown"]);
    expect(root.dataset.lmSuppressShortcuts).toBe("true");
  });
});
