// Tiny DOM helpers. Text always goes in through textContent, never innerHTML.

export function h(tag, { className, text, attrs, dataset, style } = {}, children = []) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined && text !== null) el.textContent = String(text);
  for (const [k, v] of Object.entries(attrs ?? {})) el.setAttribute(k, String(v));
  for (const [k, v] of Object.entries(dataset ?? {})) el.dataset[k] = String(v);
  for (const [k, v] of Object.entries(style ?? {})) el.style.setProperty(k, v);
  for (const child of children) if (child) el.append(child);
  return el;
}

/** Compact, readable number: 3 significant digits, exponent for very small or large values. */
export function formatNumber(v) {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(2);
  return String(Number(v.toPrecision(3)));
}

let keyGuardInstalled = false;

/**
 * Keeps the keys a person uses on the widget's own controls (arrows on a slider, typing in a
 * number box) away from the notebook, whose shortcuts would otherwise swallow them (JupyterLab and
 * Notebook 7 prevent the default of arrow keys to move between cells, some in the capture phase).
 * One window-level capture listener stops such events before any notebook handler sees them;
 * the browser's default action (moving the slider) still happens. Shift/Ctrl+Enter, Escape and
 * Ctrl/Meta/Alt chords still reach the notebook.
 */
export function isolateKeys(root) {
  root.classList.add("jv-isolate-keys");
  root.dataset.lmSuppressShortcuts = "true";
  if (keyGuardInstalled || typeof window === "undefined") return;
  keyGuardInstalled = true;
  window.addEventListener(
    "keydown",
    (event) => {
      const target = event.target;
      if (!(target instanceof Element) || !target.closest(".jv-isolate-keys")) return;
      if (!target.closest("input, select, textarea, button")) return;
      const notebookChord =
        event.key === "Escape" || event.ctrlKey || event.metaKey || event.altKey || (event.key === "Enter" && event.shiftKey);
      if (!notebookChord) event.stopImmediatePropagation();
    },
    true,
  );
}
