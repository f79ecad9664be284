// Runtime of the self-contained pages written by Widget.to_html(): reads the page's JSON block
// (widget bundle, CSS, state, stored results), imports the bundle from a Blob URL and renders the
// widget against a StaticModel. Nothing is fetched from the network.
import { decodeBuffers, StaticModel } from "./lib/static_model.js";

async function mount(script) {
  const page = JSON.parse(script.textContent);
  const style = document.createElement("style");
  style.textContent = page.css;
  document.head.append(style);
  const url = URL.createObjectURL(new Blob([page.esm], { type: "text/javascript" }));
  const widget = (await import(url)).default;
  const model = new StaticModel(decodeBuffers(page.state), decodeBuffers(page.stored), page.compute_traits);
  const el = document.createElement("div");
  script.after(el);
  const definition = typeof widget === "function" ? await widget() : widget;
  await definition.initialize?.({ model });
  await definition.render({ model, el });
}

for (const script of document.querySelectorAll('script[type="application/vnd.jaxviz.page+json"]')) {
  mount(script).catch((err) => {
    const box = document.createElement("pre");
    box.textContent = `jaxviz: could not show this widget: ${err}`;
    script.after(box);
  });
}
