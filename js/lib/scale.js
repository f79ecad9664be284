// How attribution values become colormap positions. The same rules as jaxviz/_display.py
// (the Python side uses them for the static PNG twin):
//   sign filter: "all" keeps values, "positive" keeps max(v, 0), "negative" keeps min(v, 0),
//                "absolute" takes |v|;
//   limit:       the `clip` percentile of |filtered value| (100 = the max), so a few outliers do
//                not wash out the map;
//   diverging:   t = 0.5 + 0.5 * v / limit (zero sits in the colormap's middle);
//   sequential:  t = |v| / limit, except sign "all", which spans [-limit, limit] linearly.

export const SIGNS = ["all", "positive", "negative", "absolute"];

export function signFilter(v, sign) {
  switch (sign) {
    case "all":
      return v;
    case "positive":
      return v > 0 ? v : 0;
    case "negative":
      return v < 0 ? v : 0;
    case "absolute":
      return Math.abs(v);
    default:
      throw new RangeError(`sign must be one of ${SIGNS.join(", ")}; got ${sign}`);
  }
}

/** numpy.percentile (linear interpolation) of |values|, q in [0, 100]. */
export function percentileAbs(values, q) {
  if (values.length === 0) return 0;
  const mags = Float32Array.from(values, Math.abs).sort();
  const pos = (Math.min(Math.max(q, 0), 100) / 100) * (mags.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, mags.length - 1);
  return mags[lo] + (mags[hi] - mags[lo]) * (pos - lo);
}

export function filtered(values, sign) {
  return Float32Array.from(values, (v) => signFilter(v, sign));
}

/** The value that maps to the end of the colormap: the clip-th percentile of |filtered values|. */
export function scaleLimit(values, { sign = "all", clip = 100 } = {}) {
  return percentileAbs(filtered(values, sign), clip);
}

/** Colormap positions in [0, 1] for every value; `limit` defaults to scaleLimit(values). */
export function normalize(values, { sign = "all", clip = 100, diverging = true, limit } = {}) {
  const f = filtered(values, sign);
  const lim = limit ?? percentileAbs(f, clip);
  const safe = lim > 0 ? lim : 1;
  const centered = diverging || sign === "all";
  const t = new Float32Array(f.length);
  for (let i = 0; i < f.length; i++) {
    const r = Math.max(-1, Math.min(1, f[i] / safe));
    t[i] = centered ? 0.5 + 0.5 * r : Math.abs(r);
  }
  return { t, limit: lim };
}
