// Pure helpers of the gradient-flow widgets (unit-tested): time-true resampling of thinned
// histories, [0, 1] scaling of log values, and the signed log-magnitude histogram axis.

/**
 * Resamples a (rows x steps) map recorded at increasing `steps` onto `cols` columns evenly spaced
 * in step, each taking the nearest recorded step, so thinned (older) history keeps its true width.
 */
export function resampleColumns(values, rows, steps, cols) {
  const n = steps.length;
  const out = new Float32Array(rows * cols).fill(NaN);
  if (n === 0) return out;
  const first = steps[0];
  const span = Math.max(1, steps[n - 1] - first + 1);
  let j = 0;
  for (let c = 0; c < cols; c++) {
    const t = first + ((c + 0.5) * span) / cols - 0.5;
    while (j + 1 < n && Math.abs(steps[j + 1] - t) < Math.abs(steps[j] - t)) j++;
    for (let r = 0; r < rows; r++) out[r * cols + c] = values[r * n + j];
  }
  return out;
}

/** Values scaled to [0, 1] between their finite min and max (NaN stays NaN), and that range. */
export function unitScale(values) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  if (lo === Infinity) return { t: Float32Array.from(values, () => NaN), lo: 0, hi: 0 };
  const span = hi - lo || 1;
  return { t: Float32Array.from(values, (v) => (Number.isFinite(v) ? (v - lo) / span : NaN)), lo, hi };
}

/**
 * Tick positions (in bin units, 0 = left edge of the first bin) and labels of the fixed signed
 * log-magnitude histogram bins of jaxviz.flow ({min_exp, max_exp, bins_per_decade}), at the
 * powers of ten `exponents` on both sides of zero.
 */
export function signedLogTicks({ min_exp, max_exp, bins_per_decade }, exponents = [-6, -3, 0]) {
  const side = (max_exp - min_exp) * bins_per_decade;
  const centre = side + 0.5; // middle of the zero bin
  const name = (e) => (e === 0 ? "1" : `1e${e}`);
  const ticks = [{ value: centre, label: "0" }];
  for (const e of exponents.filter((e) => e > min_exp && e <= max_exp)) {
    const k = (e - min_exp) * bins_per_decade;
    ticks.push({ value: centre + 0.5 + k, label: name(e) }, { value: centre - 0.5 - k, label: `-${name(e)}` });
  }
  return { bins: 2 * side + 1, ticks: ticks.sort((a, b) => a.value - b.value) };
}

/** Position of `step` among sorted `steps` (nearest). */
export function nearestIndex(steps, step) {
  let best = 0;
  for (let i = 1; i < steps.length; i++) if (Math.abs(steps[i] - step) < Math.abs(steps[best] - step)) best = i;
  return best;
}

/**
 * TensorBoard's scalar smoothing: an exponential moving average from 0, debiased by
 * 1 - weight^n after n finite points; non-finite points pass through; a constant series is
 * returned as it is (the same as jaxviz.flow.smooth).
 */
export function smooth(values, weight) {
  const out = Float64Array.from(values);
  if (!out.length || out.every((v) => v === out[0]) || !(weight > 0)) return out;
  let last = 0;
  let n = 0;
  for (let i = 0; i < out.length; i++) {
    if (!Number.isFinite(out[i])) continue;
    last = last * weight + (1 - weight) * out[i];
    n += 1;
    out[i] = last / (1 - weight ** n);
  }
  return out;
}
