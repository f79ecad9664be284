// A stand-in for the kernel-side model in pages written by Widget.to_html(): it holds the
// widget's state and answers kernel requests from results stored in the page, so the controls
// whose results were stored keep working offline with no kernel.

function same(a, b) {
  if (typeof a === "number" && typeof b === "number") return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a));
  return a === b;
}

export class StaticModel {
  /** stored: [{state: {trait: value}, result: {trait: value}}]; computeTraits: names in `state`. */
  constructor(state, stored, computeTraits) {
    this.state = { ...state };
    this.stored = stored;
    this.computeTraits = computeTraits;
    this.listeners = new Map();
    this.dirty = new Set();
    this.seq = 0;
  }

  get(name) {
    return this.state[name];
  }

  set(name, value) {
    if (this.state[name] === value) return;
    this.state[name] = value;
    this.dirty.add(name);
    this.emit(`change:${name}`);
  }

  save_changes() {
    const needsKernel = [...this.dirty].some((n) => n === "_request_id" || this.computeTraits.includes(n));
    this.dirty.clear();
    if (needsKernel) setTimeout(() => this.serve(), 0);
  }

  /** The stored result for the current state, or null when the page does not hold it. */
  lookup() {
    const entry = this.stored.find((e) => this.computeTraits.every((n) => same(e.state[n], this.state[n])));
    return entry ? entry.result : null;
  }

  serve() {
    const result = this.lookup();
    if (result) for (const [k, v] of Object.entries(result)) this.set(k, v);
    this.seq += 1;
    this.set("_reply", {
      id: this.state._request_id ?? 0,
      seq: this.seq,
      error: result ? null : "This page stores only some results; run the notebook to compute this one.",
    });
    this.dirty.clear();
  }

  on(event, callback) {
    if (!this.listeners.has(event)) this.listeners.set(event, new Set());
    this.listeners.get(event).add(callback);
  }

  off(event, callback) {
    if (!event) this.listeners.clear();
    else if (!callback) this.listeners.delete(event);
    else this.listeners.get(event)?.delete(callback);
  }

  emit(event) {
    for (const cb of this.listeners.get(event) ?? []) cb();
  }

  send() {}
}

/** Replaces every {"$bytes": base64} placeholder (how the page stores buffers) with a DataView. */
export function decodeBuffers(value) {
  if (Array.isArray(value)) return value.map(decodeBuffers);
  if (value && typeof value === "object") {
    if (typeof value.$bytes === "string") {
      const bin = atob(value.$bytes);
      const bytes = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      return new DataView(bytes.buffer);
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, decodeBuffers(v)]));
  }
  return value;
}
