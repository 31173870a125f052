// docs.test.mjs — docs/web.md against the package's declarations: every name that
// dist/{browser,node,edge}.d.ts export, every member of the public interfaces, every error
// code and progress status must appear in the reference (as `name`). Uses the TypeScript
// compiler API on the emitted .d.ts files.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createRequire } from "node:module";
import { SOURCE_DIR, DIST } from "./common.mjs";

const ts = createRequire(join(SOURCE_DIR, "web", "package.json"))("typescript");
const doc = readFileSync(join(SOURCE_DIR, "docs", "web.md"), "utf8");
const entries = ["browser", "node", "edge"].map((e) => join(DIST, `${e}.d.ts`));
const program = ts.createProgram(entries, { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext });
const checker = program.getTypeChecker();

function documented(name) { return doc.includes("`" + name) || doc.includes(name + "`") || doc.includes(`${name}(`); }

test("every exported name is documented", () => {
  const missing = new Set();
  let count = 0;
  for (const file of entries) {
    const sf = program.getSourceFile(file);
    assert.ok(sf, file);
    for (const sym of checker.getExportsOfModule(checker.getSymbolAtLocation(sf))) {
      count++;
      if (!documented(sym.getName())) missing.add(`${sym.getName()} (${file})`);
    }
  }
  assert.ok(count > 20, `only ${count} exports found`);
  assert.deepEqual([...missing], []);
});

test("every member of the public interfaces, every error code and progress status is documented", () => {
  const sf = program.getSourceFile(join(DIST, "types.d.ts"));
  const missing = [];
  const exportsOf = checker.getExportsOfModule(checker.getSymbolAtLocation(sf));
  const byName = Object.fromEntries(exportsOf.map((s) => [s.getName(), s]));
  for (const name of ["ToolCaller", "CreateOptions", "CallOptions", "CallResult", "ModelInfo", "CallTimings", "TokenEvent", "FunctionCall", "MemoryStats", "RankedTool", "Handoff", "FallbackContext", "FinetuneOptions", "FinetuneProgress", "FinetuneResult", "FinetuneMetrics", "TrainingExample"]) {
    const type = checker.getDeclaredTypeOfSymbol(byName[name]);
    for (const p of checker.getPropertiesOfType(type)) if (!documented(p.getName())) missing.push(`${name}.${p.getName()}`);
  }
  const progress = checker.getDeclaredTypeOfSymbol(byName.ProgressEvent);
  for (const t of progress.types) {
    const status = checker.getTypeOfSymbolAtLocation(t.getProperty("status"), sf);
    if (!doc.includes(`"${status.value}"`)) missing.push(`ProgressEvent status ${status.value}`);
  }
  const errSf = program.getSourceFile(join(DIST, "errors.d.ts"));
  const codeSym = checker.getExportsOfModule(checker.getSymbolAtLocation(errSf)).find((s) => s.getName() === "ErrorCode");
  const codes = checker.getDeclaredTypeOfSymbol(codeSym).types.map((t) => t.value);
  assert.ok(codes.length > 20);
  for (const c of codes) if (!documented(c)) missing.push(`ErrorCode ${c}`);
  assert.deepEqual(missing, []);
});
