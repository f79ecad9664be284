// The one x-y chart component: lines, bars and points on linear or log axes, shaded x-spans,
// ringed marks with text, a cursor line and a legend, drawn on a HiDPI canvas. Tick placement
// (niceTicks, logTicks) and the value -> pixel maps are pure functions, unit-tested.

import { formatNumber, h } from "./dom.js";

/** About `count` round ticks (1, 2, 5 x 10^k steps) covering [lo, hi]. */
export function niceTicks(lo, hi, count = 5) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => 1.5 * s >= raw);
  const ticks = [];
  // a tick that should be 0 comes out as +-1e-17 from the float steps: snap it
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Math.abs(v) < step * 1e-9 ? 0 : Number(v.toPrecision(12)));
  return ticks;
}

/** Powers of ten within [lo, hi] (both > 0), thinned to at most `count`. */
export function logTicks(lo, hi, count = 6) {
  const first = Math.ceil(Math.log10(lo) - 1e-9);
  const last = Math.floor(Math.log10(hi) + 1e-9);
  const every = Math.max(1, Math.ceil((last - first + 1) / count));
  const ticks = [];
  for (let e = first; e <= last; e += every) ticks.push(Number(`1e${e}`));
  return ticks;
}

/** The finite range of every series' values (positive ones only on a log axis). */
export function extent(arrays, log = false) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const a of arrays) {
    for (const v of a) {
      if (!Number.isFinite(v) || (log && v <= 0)) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  if (lo === Infinity) return log ? [0.1, 1] : [0, 1];
  if (lo === hi) return log ? [lo / 10, hi * 10] : [lo - 1, hi + 1];
  return [lo, hi];
}

/** A value -> pixel map for an axis from `lo` to `hi` onto pixels `p0`..`p1`. */
export function axisMap(lo, hi, p0, p1, log = false) {
  const f = log ? Math.log10 : (v) => v;
  const a = f(lo);
  const span = f(hi) - a || 1;
  return (v) => p0 + ((f(v) - a) / span) * (p1 - p0);
}

function cssVar(el, name, fallback) {
  const v = getComputedStyle(el).getPropertyValue(name).trim();
  return v || fallback;
}

export function createChart({ role, width = 380, height = 220, label = "" }) {
  const canvas = h("canvas", { className: "jv-chart", dataset: { role }, attrs: { "aria-label": label || role } });
  let size = { width, height };
  let lastGeometry = null;

  function resize(w, h_) {
    size = { width: w, height: h_ };
  }

  /** Draws `spec` (see the module comment for its fields). Returns the axis maps. */
  function draw(spec) {
    const dpr = window.devicePixelRatio || 1;
    const { width: W, height: H } = size;
    canvas.width = Math.round(W * dpr);
    canvas.height = Math.round(H * dpr);
    canvas.style.width = `${W}px`;
    canvas.style.height = `${H}px`;
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, W, H);
    const fg = cssVar(canvas, "--jv-fg", "#1d1d1f");
    const muted = cssVar(canvas, "--jv-fg-muted", "#5c5c66");
    const grid = cssVar(canvas, "--jv-border", "#d9dbe0");
    const font = "11px " + cssVar(canvas, "--jv-font", "sans-serif");
    const series = spec.series ?? [];
    const xs = spec.x ?? {};
    const ys = spec.y ?? {};
    const rotate = xs.ticks && xs.ticks.some((t) => t.label.length > 6) && xs.ticks.length > 4;
    const bottom = (xs.label ? 16 : 0) + (rotate ? 52 : 20);
    const left = 52;
    const top = spec.title ? 22 : 10;
    const right = 12;
    const [x0, x1] = [xs.min, xs.max].every(Number.isFinite) ? [xs.min, xs.max] : extent(series.map((s) => s.x), xs.log);
    let [y0, y1] = [ys.min, ys.max].every(Number.isFinite) ? [ys.min, ys.max] : extent(series.map((s) => s.y), ys.log);
    if (!ys.log && !Number.isFinite(ys.min) && series.some((s) => s.kind === "bar")) y0 = Math.min(0, y0);
    if (ys.log) [y0, y1] = [10 ** Math.floor(Math.log10(y0)), 10 ** Math.ceil(Math.log10(y1))];
    const pad = xs.pad ?? 0;
    const X = axisMap(x0 - pad, x1 + pad, left, W - right, xs.log);
    const Y = axisMap(y0, y1, H - bottom, top, ys.log);
    ctx.font = font;

    for (const b of spec.bands ?? []) {
      ctx.fillStyle = b.color ?? "rgba(128,128,128,0.15)";
      ctx.fillRect(X(b.x0), top, X(b.x1) - X(b.x0), H - bottom - top);
    }
    // grid and tick labels
    ctx.strokeStyle = grid;
    ctx.fillStyle = muted;
    ctx.lineWidth = 1;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    const yticks = ys.ticks ?? (ys.log ? logTicks(y0, y1) : niceTicks(y0, y1, 4)).map((v) => ({ value: v, label: ys.log ? `1e${Math.round(Math.log10(v))}` : formatNumber(v) }));
    for (const t of yticks) {
      const py = Math.round(Y(t.value)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(left, py);
      ctx.lineTo(W - right, py);
      ctx.stroke();
      ctx.fillText(t.label, left - 4, py);
    }
    const xticks = xs.ticks ?? (xs.log ? logTicks(x0, x1) : niceTicks(x0, x1, 5)).map((v) => ({ value: v, label: formatNumber(v) }));
    ctx.textBaseline = "top";
    for (const t of xticks) {
      const px = X(t.value);
      if (rotate) {
        ctx.save();
        ctx.translate(px, H - bottom + 4);
        ctx.rotate(-Math.PI / 4);
        ctx.textAlign = "right";
        ctx.fillText(t.label, 0, 0);
        ctx.restore();
      } else {
        ctx.textAlign = "center";
        ctx.fillText(t.label, px, H - bottom + 4);
      }
    }
    ctx.strokeStyle = muted;
    ctx.beginPath();
    ctx.moveTo(left, top);
    ctx.lineTo(left, H - bottom);
    ctx.lineTo(W - right, H - bottom);
    ctx.stroke();
    ctx.fillStyle = fg;
    ctx.textAlign = "center";
    if (xs.label) ctx.fillText(xs.label, (left + W - right) / 2, H - 14);
    if (spec.title) {
      ctx.textBaseline = "top";
      ctx.font = "bold " + font;
      ctx.fillText(spec.title, (left + W - right) / 2, 4);
      ctx.font = font;
    }
    if (ys.label) {
      ctx.save();
      ctx.translate(11, (top + H - bottom) / 2);
      ctx.rotate(-Math.PI / 2);
      ctx.textBaseline = "middle";
      ctx.fillText(ys.label, 0, 0);
      ctx.restore();
    }

    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top - 2, W - right - left, H - bottom - top + 4);
    ctx.clip();
    const ok = (v) => Number.isFinite(v) && (!ys.log || v > 0);
    for (const s of series) {
      ctx.strokeStyle = ctx.fillStyle = s.color ?? fg;
      ctx.lineWidth = s.width ?? 1.5;
      ctx.setLineDash(s.dash ? [5, 4] : []);
      if (s.kind === "area") {
        // a band between s.y (lower) and s.y2 (upper), e.g. a percentile band
        ctx.globalAlpha = s.alpha ?? 0.25;
        ctx.beginPath();
        const idx = [...s.x.keys()].filter((i) => ok(s.y[i]) && ok(s.y2[i]));
        idx.forEach((i, k) => (k ? ctx.lineTo(X(s.x[i]), Y(s.y2[i])) : ctx.moveTo(X(s.x[i]), Y(s.y2[i]))));
        for (const i of [...idx].reverse()) ctx.lineTo(X(s.x[i]), Y(s.y[i]));
        ctx.closePath();
        if (idx.length) ctx.fill();
        ctx.globalAlpha = 1;
        continue;
      }
      if (s.kind === "bar") {
        const bw = s.barWidth ?? Math.max(2, (0.7 * (W - left - right)) / Math.max(1, s.x.length + 2 * pad));
        ctx.globalAlpha = s.alpha ?? 0.6;
        for (let i = 0; i < s.x.length; i++) {
          if (!ok(s.y[i])) continue;
          const base = ys.log ? H - bottom : Y(Math.max(y0, 0));
          ctx.fillRect(X(s.x[i]) - bw / 2, Math.min(Y(s.y[i]), base), bw, Math.abs(base - Y(s.y[i])));
        }
        ctx.globalAlpha = 1;
        continue;
      }
      ctx.globalAlpha = s.alpha ?? 1;
      ctx.beginPath();
      let pen = false;
      for (let i = 0; i < s.x.length; i++) {
        if (!ok(s.y[i])) {
          pen = false;
          continue;
        }
        const [px, py] = [X(s.x[i]), Y(s.y[i])];
        if (pen) ctx.lineTo(px, py);
        else ctx.moveTo(px, py);
        pen = true;
      }
      ctx.stroke();
      ctx.globalAlpha = 1;
      if (s.kind === "points" || s.markers) {
        for (let i = 0; i < s.x.length; i++) {
          if (!ok(s.y[i])) continue;
          ctx.beginPath();
          ctx.arc(X(s.x[i]), Y(s.y[i]), 3, 0, 2 * Math.PI);
          ctx.fill();
        }
      }
    }
    ctx.setLineDash([]);
    for (const m of spec.marks ?? []) {
      if (!ok(m.y)) continue;
      ctx.strokeStyle = ctx.fillStyle = m.color;
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.arc(X(m.x), Y(m.y), 7, 0, 2 * Math.PI);
      ctx.stroke();
      ctx.textAlign = "center";
      ctx.textBaseline = "bottom";
      if (m.text) ctx.fillText(m.text, X(m.x), Y(m.y) - 9);
    }
    if (Number.isFinite(spec.cursor)) {
      ctx.strokeStyle = muted;
      ctx.setLineDash([3, 3]);
      ctx.beginPath();
      ctx.moveTo(X(spec.cursor), top);
      ctx.lineTo(X(spec.cursor), H - bottom);
      ctx.stroke();
      ctx.setLineDash([]);
    }
    ctx.restore();

    const named = [...series.filter((s) => s.label), ...(spec.bands ?? []).filter((b) => b.label).slice(0, 1)];
    if (spec.legend !== false && named.length) {
      ctx.textAlign = "left";
      ctx.textBaseline = "middle";
      let ly = top + 8;
      const lx = spec.legendLeft ? left + 8 : W - right - 8 - Math.max(...named.map((s) => ctx.measureText(s.label).width)) - 22;
      for (const s of named) {
        ctx.fillStyle = s.color ?? "rgba(128,128,128,0.3)";
        ctx.fillRect(lx, ly - 2, 16, s.kind === "bar" || s.x0 !== undefined ? 8 : 3);
        ctx.fillStyle = fg;
        ctx.fillText(s.label, lx + 20, ly + 1);
        ly += 15;
      }
    }
    lastGeometry = { X, Y, left, right: W - right, top, bottom: H - bottom };
    return lastGeometry;
  }

  return { el: canvas, draw, resize, geometry: () => lastGeometry };
}
