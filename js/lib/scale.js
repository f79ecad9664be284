// How attribution values become colormap positions: the JS twin of jaxviz/_display.py (signed_part,
// attribution_scale, normalize_attribution), which the static plots use. The test vectors in
// test/display_cases.json are computed by _display itself (tests/test_widget_base.py keeps them
// current), so both sides agree.
//   sign:  "all" keeps values (diverging around 0); "positive" / "negative" keep the magnitude of
//          that sign's part (0 elsewhere); "absolute" takes |v|.
//   scale: the `clip` percentile of the nonzero magnitudes shown (100 = their max; 0 if none), so
//          a few outliers do not wash out the map.
//   normalized: shown / scale clipped to [-1, 1] for "all", [0, 1] otherwise; the colormap spans
//          that range (so t = (n + 1) / 2 for "all", t = n otherwise).

export const SIGNS = ["positive", "negative", "absolute", "all"];
export const DEFAULT_CLIP = 99;

export function signedPart(v, sign) {
  switch (sign) {
    case "all":
      return v;
    case "positive":
      return v > 0 ? v : 0;
    case "negative":
      return v < 0 ? -v : 0;
    case "absolute":
      return Math.abs(v);
    default:
      throw new RangeError(`sign: expected one of ${SIGNS.join(", ")}, got ${sign}`);
  }
}

/** numpy.percentile (linear interpolation) of sorted values, q in [0, 100]. */
function percentileSorted(sorted, q) {
  const pos = (Math.min(Math.max(q, 0), 100) / 100) * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** The magnitude that maps to full color, over one map or several (a shared scale). */
export function attributionScale(values, { sign = "absolute", clip = DEFAULT_CLIP } = {}) {
  const maps = Array.isArray(values) ? values : [values];
  const mags = [];
  for (const map of maps) {
    for (let i = 0; i < map.length; i++) {
      const m = Math.abs(signedPart(map[i], sign));
      if (m > 0) mags.push(m);
    }
  }
  if (mags.length === 0) return 0;
  return percentileSorted(Float64Array.from(mags).sort(), clip);
}

/** Colormap positions in [0, 1]; `scale` defaults to attributionScale(values). */
export function normalize(values, { sign = "absolute", clip = DEFAULT_CLIP, scale } = {}) {
  const used = scale ?? attributionScale(values, { sign, clip });
  const low = sign === "all" ? -1 : 0;
  const t = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const shown = signedPart(values[i], sign);
    const n = used > 0 ? Math.min(1, Math.max(low, shown / used)) : 0;
    t[i] = (n - low) / (1 - low);
  }
  return { t, scale: used };
}

/** Colorbar tick values in attribution units, as jv.plot's colorbars label them. */
export function colorbarTicks(sign, scale) {
  if (sign === "all") return [-scale, 0, scale];
  const f = sign === "negative" ? -scale : scale;
  return [0, f / 2, f];
}
