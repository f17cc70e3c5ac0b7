// Bundles every entry point in src/ into ../static/build/<name>.js (ES modules, minified).
// Runs at set-up (make run / make test); nothing here runs in production.
import { readdirSync } from "node:fs";
import { build } from "esbuild";

const entryPoints = readdirSync("src")
  .filter((name) => name.endsWith(".js"))
  .map((name) => `src/${name}`);

await build({
  entryPoints,
  bundle: true,
  format: "esm",
  minify: true,
  sourcemap: true,
  target: ["es2020"],
  outdir: "../static/build",
  logLevel: "warning",
});
console.log(`built ${entryPoints.length} bundle(s) into static/build/`);
