// build.mjs — writes the servable demo (default build/demo/): the page's files, the package's
// browser files (npm/dist, hard-linked when possible: the model is 28 MB; no Node, CLI or edge entries),
// site.json (the default model's path and SHA-256) and sw.js with the cache manifest
// (every file's SHA-256; the cache version is a hash of that list, so any change in the app,
// the builds or the model gives a new cache and the old one is deleted).
// Usage: node demo/build.mjs [--out DIR] [--dist npm/dist]   (tools/build-demo.sh runs it; tests pass
// buildDemo({ src }) to build the page from a modified copy)
import { createHash } from "node:crypto";
import { copyFileSync, linkSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, "..");
const APP_FILES = ["index.html", "style.css", "app.js", "presets.js", "json-check.js", "actions.js", "manifest.webmanifest", "icon.svg"];
// Package files a page can load: not the Node, CLI or edge entries, not type declarations.
const SKIP = /(^|\/)(node|cli|edge)\.js$|\.d\.ts$|^wasm\/edge\/|^wasm\/mt\/package\.json$/;

function arg(name, fallback) {
  const k = process.argv.indexOf(name);
  return k > 0 ? process.argv[k + 1] : fallback;
}
const sha256 = (file) => createHash("sha256").update(readFileSync(file)).digest("hex");
function walk(dir, base = dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name), base) : [relative(base, join(dir, e.name)).split("\\").join("/")]);
}
function place(from, to, link = false) {
  mkdirSync(dirname(to), { recursive: true });
  if (link) { try { linkSync(from, to); return; } catch { /* another file system: copy */ } }
  copyFileSync(from, to);
}

export function buildDemo({ out = join(ROOT, "build", "demo"), dist = join(ROOT, "npm", "dist"), src = HERE } = {}) {
  const model = join(dist, "models", "default.gguf");
  statSync(join(dist, "browser.js")); // throws (ENOENT) when the package is not built
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const files = {};
  for (const f of APP_FILES) { place(join(src, f), join(out, f)); files[f] = sha256(join(out, f)); }
  for (const f of walk(dist)) {
    if (SKIP.test(f)) continue;
    place(join(dist, f), join(out, "npm", "dist", f), true);
    if (!f.startsWith("models/")) files[`npm/dist/${f}`] = sha256(join(dist, f));
  }
  const site = { model: { path: "npm/dist/models/default.gguf", sha256: sha256(model), bytes: statSync(model).size } };
  writeFileSync(join(out, "site.json"), JSON.stringify(site, null, 2) + "\n");
  files["site.json"] = sha256(join(out, "site.json"));
  const sorted = Object.fromEntries(Object.entries(files).sort(([a], [b]) => a.localeCompare(b)));
  const version = createHash("sha256").update(JSON.stringify(sorted)).digest("hex").slice(0, 16);
  const sw = readFileSync(join(src, "sw.js"), "utf8");
  if (!sw.includes("/*BUILD*/ null")) throw new Error("demo/sw.js lost its /*BUILD*/ placeholder");
  writeFileSync(join(out, "sw.js"), sw.replace("/*BUILD*/ null", JSON.stringify({ version, files: sorted })));
  return { out, version, files: Object.keys(sorted).length, model: site.model };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const r = buildDemo({ out: arg("--out", undefined), dist: arg("--dist", undefined) });
  console.log(`demo: ${r.out} (cache version ${r.version}, ${r.files} files cached by the service worker; ` +
              `model ${(r.model.bytes / 1e6).toFixed(1)} MB, SHA-256 ${r.model.sha256.slice(0, 16)}...)`);
}
