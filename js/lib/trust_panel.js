// The Explorer's trust panel: the shown attribution's scores (deletion and insertion areas against
// random orders of the same pixels, and sparseness), computed by the kernel on demand (the "score"
// button), on a thread there, so the rest of the Explorer stays usable meanwhile.
import { formatNumber, h } from "./dom.js";
import { compareWithBaseline, verdictClass } from "./trust.js";
import "./trust.css";

const ABOUT = {
  deletion: "area under the class probability as the most relevant pixels are removed (lower is better)",
  insertion: "area as the most relevant pixels are put back onto a blurred image (higher is better)",
  sparseness: "Gini index of the map: 1 is one pixel, 0 is uniform",
};

export function createTrustPanel({ model }) {
  const status = h("div", { className: "jv-trust-note", dataset: { role: "trust-status" } });
  const body = h("table", { dataset: { role: "trust" } });
  const button = h("button", { className: "jv-button", text: "score", attrs: { type: "button", title: "score the shown map" }, dataset: { control: "trust" } });
  const el = h("div", { className: "jv-panel jv-trust-panel" }, [
    h("div", { className: "jv-panel-title", text: "trust" }),
    button,
    body,
    status,
    h("div", { className: "jv-trust-note", text: "this input only; random: 8 random pixel orders" }),
  ]);
  button.addEventListener("click", () => {
    model.send({ event: "trust", index: model.get("index"), method: model.get("method") });
  });

  function draw() {
    const trust = model.get("_trust") ?? {};
    const current = trust.index === model.get("index") && trust.method === model.get("method");
    button.disabled = trust.status === "computing";
    if (!trust.status) {
      status.textContent = "press score to measure this map";
      body.replaceChildren();
      return;
    }
    if (trust.status === "computing") {
      status.textContent = "computing…";
      return;
    }
    if (trust.status === "error") {
      status.textContent = trust.error;
      body.replaceChildren();
      return;
    }
    status.textContent = current ? `input ${trust.index}, class ${trust.target}` : `for input ${trust.index}, ${trust.method}: press score for this view`;
    body.replaceChildren(
      h("tr", {}, [h("td", { text: "" }), h("td", { text: "score" }), h("td", { text: "random" })]),
      ...Object.entries(trust.scores).map(([name, s]) => {
        const verdict = compareWithBaseline(s.score, s.baseline, s.higher_is_better);
        return h("tr", { attrs: { title: ABOUT[name] ?? name }, dataset: { metric: name } }, [
          h("td", { text: name }),
          h("td", {}, [h("span", { className: `jv-${verdictClass(verdict)}`, text: formatNumber(s.score) })]),
          h("td", { text: s.baseline === null ? "–" : formatNumber(s.baseline) }),
        ]);
      }),
    );
  }
  model.on("change:_trust", draw);
  model.on("change:index", draw);
  model.on("change:method", draw);
  draw();
  return { el };
}
