// common.mjs — shared fixtures of the web suites: random test models made with the native
// CLI (NP_CLI), the fixed (query, tools, options) cases, and the native CLI's answers.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

export const SOURCE_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const CLI = process.env.NP_CLI || join(SOURCE_DIR, "build", "needlepoint");
export const DIST = join(SOURCE_DIR, "npm", "dist");

export function makeTempDir(prefix = "np-web-") {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Random-weight models (no trained model exists in tests): small F32, small Q8_0+FFN, and a
 * small Q8_0 one with the catalog encoder mask (tool lists cached across calls). */
export function makeModels(dir) {
  const models = {
    small_f32: join(dir, "small-f32.gguf"),
    small_q8_ffn: join(dir, "small-q8-ffn.gguf"),
    small_catalog: join(dir, "small-catalog.gguf"),
  };
  execFileSync(CLI, ["make-model", "--out", models.small_f32, "--config", "small", "--type", "f32", "--seed", "11"]);
  execFileSync(CLI, ["make-model", "--out", models.small_q8_ffn, "--config", "small", "--type", "q8_0", "--seed", "12",
                     "--d-ff", "128", "--ffn", "swiglu"]);
  execFileSync(CLI, ["make-model", "--out", models.small_catalog, "--config", "small", "--type", "q8_0", "--seed", "13",
                     "--encoder-mask", "catalog"]);
  return models;
}

export const TOOLS = {
  // Needle flat, OpenAI, Anthropic, mixed (the core normalises each).
  flat: [{ name: "get_weather", description: "Weather for a city.", parameters: { city: { type: "string", required: true } } }],
  openai: [{ type: "function", function: { name: "setTimer", description: "Start a timer.",
             parameters: { type: "object", properties: { minutes: { type: "integer" }, label: { type: "string" } }, required: ["minutes"] } } }],
  anthropic: [{ name: "lights", description: "Switch lights.", input_schema: { type: "object",
                properties: { on: { type: "boolean" }, room: { type: "string", enum: ["kitchen", "bedroom"] } } } }],
};
TOOLS.mixed = [...TOOLS.flat, ...TOOLS.openai, ...TOOLS.anthropic];

/** The fixed cases: [name, query, tools key, options]. */
export const CASES = [
  ["weather", "What's the weather in Paris?", "flat", {}],
  ["timer", "Set a timer for 10 minutes", "openai", {}],
  ["lights", "Turn on the kitchen lights", "anthropic", {}],
  ["mixed", "Text Bob that I'm late, then set a timer", "mixed", {}],
  ["unicode", "Météo à São Paulo, 東京 ☀️", "mixed", {}],
  ["budget", "Set a timer for 5 minutes", "mixed", { maxTokens: 6 }],
  ["free", "What's the weather in Paris?", "mixed", { constrained: false, maxTokens: 40 }],
  ["free-long", "Turn on the kitchen lights and set a timer", "flat", { constrained: false, maxTokens: 100 }],
];

/** The native CLI's result for a case (parsed JSON of `needlepoint run`). */
export function nativeRun(model, query, tools, opts, dir) {
  const toolsFile = join(dir, "tools.json");
  writeFileSync(toolsFile, JSON.stringify(tools));
  const args = ["run", "--model", model, "--query", query, "--tools", "@" + toolsFile];
  if (opts.maxTokens) args.push("--max-tokens", String(opts.maxTokens));
  if (opts.constrained === false) args.push("--no-constrain");
  if (opts.toolPrior) args.push("--tool-prior", opts.toolPrior);
  if (opts.copyPrior !== undefined) args.push("--copy-prior", String(opts.copyPrior));
  if (opts.echoPrior !== undefined) args.push("--echo-prior", String(opts.echoPrior));
  return JSON.parse(execFileSync(CLI, args, { encoding: "utf8" }));
}

/** Token ids from the native tokenizer, one array per line. */
export function nativeTokenize(model, lines) {
  const out = execFileSync(CLI, ["tokenize", "--model", model], { input: lines.join("\n") + "\n", encoding: "utf8" });
  return out.trimEnd().split("\n").map((l) => (l.trim() ? l.trim().split(/\s+/).map(Number) : []));
}

/** The fields a JS result must share with the native one. */
export function comparable(r, native) {
  if (native) {
    return { calls: native.calls, raw: native.raw, valid: native.valid, truncated: native.truncated,
             completed: native.completed, stopReason: native.stop_reason, tokens: native.tokens,
             droppedCalls: native.dropped_calls, reason: native.reason, repeatedCalls: native.repeated_calls };
  }
  return { calls: r.calls, raw: r.raw, valid: r.valid, truncated: r.truncated, completed: r.completed,
           stopReason: r.stopReason, tokens: r.tokens, droppedCalls: r.droppedCalls, reason: r.reason,
           repeatedCalls: r.repeatedCalls };
}

export function readBytes(path) { return new Uint8Array(readFileSync(path)); }
