// Shared pieces of the trust views: the verdict of a score against its random baseline.

/** "better", "worse" or "neutral": verdict +1, -1 or 0 (a scorecard cell's). */
export function verdictClass(verdict) {
  return verdict > 0 ? "better" : verdict < 0 ? "worse" : "neutral";
}

/** One example's verdict without an interval: the score on the better side of the baseline. */
export function compareWithBaseline(score, baseline, higherIsBetter) {
  if (baseline === null || baseline === undefined || !Number.isFinite(baseline)) return 0;
  if (score === baseline) return 0;
  return (score > baseline) === higherIsBetter ? 1 : -1;
}

/** Row order of `cells` (methods x metrics) by metric `column`, best first (stable). */
export function sortedRows(cells, column, higherIsBetter) {
  const rows = cells.map((_, i) => i);
  if (column < 0) return rows;
  return rows.sort((a, b) => {
    const d = cells[a][column].score - cells[b][column].score;
    return (higherIsBetter ? -d : d) || a - b;
  });
}
