// Bundles every js/widgets/<name>.js into jaxviz/static/<name>.js (ESM, anywidget's format) and
// its imported CSS into jaxviz/static/<name>.css, plus page.js, the runtime of Widget.to_html()
// pages. `node js/build.mjs --watch` rebuilds on change; `--check` writes nothing and fails when
// the committed jaxviz/static/ differs from a fresh build (CI runs it).
import * as esbuild from "esbuild";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const widgets = join(here, "widgets");
const entryPoints = readdirSync(widgets)
  .filter((f) => f.endsWith(".js"))
  .map((f) => join(widgets, f))
  .concat(join(here, "page.js"));

const options = {
  entryPoints,
  outdir: join(here, "..", "jaxviz", "static"),
  entryNames: "[name]",
  bundle: true,
  format: "esm",
  target: "es2020",
  minify: true,
  legalComments: "none",
  logLevel: "info",
};

if (process.argv.includes("--watch")) {
  await (await esbuild.context(options)).watch();
} else if (process.argv.includes("--check")) {
  const { outputFiles } = await esbuild.build({ ...options, write: false, logLevel: "warning" });
  const stale = outputFiles.filter(
    (f) => !existsSync(f.path) || !Buffer.from(f.contents).equals(readFileSync(f.path)),
  );
  for (const f of stale) console.error(`stale: ${f.path}`);
  if (stale.length) {
    console.error("jaxviz/static/ does not match js/: run `npm run build` and commit the result");
    process.exit(1);
  }
  console.log(`jaxviz/static/ matches js/ (${outputFiles.length} files)`);
} else {
  await esbuild.build(options);
}
