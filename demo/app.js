// app.js — the demo page: loads the engine through the public `needlepoint` package API,
// runs the tool sets of presets.js, shows tokens as they decode, the calls (cards + JSON),
// timings, and a privacy panel counting network requests made after the model loaded.
// URL parameters (for tests and comparisons): ?model=URL (another model; default: the
// package's bundled model, pinned to its SHA-256 by the demo build), ?threads=N, ?build=st,
// ?nosw (no service worker), ?preset=ID.
import { createToolCaller, clearCache, InvalidToolsError, synthesizeExamples } from "needlepoint";
import { PRESETS } from "./presets.js";
import { checkTools } from "./json-check.js";
import { createActions } from "./actions.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const MB = (n) => (n / 1e6).toFixed(1) + " MB";
const ms = (n) => (n < 10 ? n.toFixed(2) : n.toFixed(0)) + " ms";
const state = { tc: null, preset: PRESETS[0], last: null, loadedAt: null, busy: false, requests: [] };
// Fine-tuning: generated examples, the running job, the tuned engine and the original one.
const tune = { examples: null, abort: null, result: null, original: null, losses: [] };

try { const t = localStorage.getItem("np-demo-theme"); if (t) document.documentElement.dataset.theme = t; } catch { /* no storage */ }

const actions = createActions({
  todoList: $("todos"), timerList: $("timers"),
  onChange: (call, out) => { $("action-log").textContent = out.text; },
});

// ---- presets and the tools editor ----
for (const p of PRESETS) $("preset").append(new Option(p.label, p.id));
$("preset").addEventListener("change", () => selectPreset($("preset").value));

function selectPreset(id) {
  const p = PRESETS.find((x) => x.id === id) ?? PRESETS[0];
  state.preset = p;
  $("preset").value = p.id;
  $("tools").value = JSON.stringify(p.tools, null, 2);
  $("examples").replaceChildren(...p.examples.map((ex) => {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = ex.query;
    b.addEventListener("click", () => { $("query").value = ex.query; run(ex.query); });
    return b;
  }));
  validateTools();
  $("tune-seeds").value = JSON.stringify(p.examples.filter((ex) => ex.expect).map((ex) => ({ query: ex.query, answers: ex.expect })), null, 1);
  tune.examples = null;
  $("tune-status").textContent = "No examples yet.";
}

function validateTools() {
  const r = checkTools($("tools").value);
  $("tools").setAttribute("aria-invalid", String(!r.ok));
  $("tools-error").textContent = r.ok ? "" : `Line ${r.line}, column ${r.column}: ${r.message}`;
  return r;
}
let validateTimer = 0;
$("tools").addEventListener("input", () => { clearTimeout(validateTimer); validateTimer = setTimeout(validateTools, 150); });

// ---- loading ----
function progress(e) {
  const label = $("progress-label"), bar = $("progress");
  if (e.status === "wasm") { label.textContent = `Compiling WebAssembly (${e.build} build)\u2026`; bar.removeAttribute("value"); }
  else if (e.status === "download") {
    label.textContent = `Downloading the model: ${MB(e.loaded)}${e.total ? " of " + MB(e.total) : ""}`;
    if (e.total) { bar.max = e.total; bar.value = e.loaded; } else bar.removeAttribute("value");
  } else if (e.status === "cache-hit") { label.textContent = "Model found in this browser's cache: no download"; $("load-detail").textContent = `SHA-256 ${e.sha256}`; }
  else if (e.status === "cached") $("load-detail").textContent = `Model saved in this browser's cache (SHA-256 ${e.sha256.slice(0, 16)}\u2026) for the next visit`;
  else if (e.status === "cache-error") $("load-detail").textContent = `Cache unavailable (${e.message}); the model stays in memory only`;
  else if (e.status === "model") label.textContent = `Model loaded (${MB(e.bytes)}), starting\u2026`;
  else if (e.status === "ready") label.textContent = `Ready in ${(e.ms / 1000).toFixed(1)} s`;
}

async function siteInfo() {
  try { const r = await fetch("site.json"); if (r.ok) return await r.json(); } catch { /* not a demo build: use the package default */ }
  return null;
}

async function load() {
  const site = await siteInfo();
  let model;
  if (params.get("model")) model = new URL(params.get("model"), location.href).href;
  else if (site?.model) {
    model = { url: new URL(site.model.path, location.href).href, sha256: site.model.sha256 };
    // A new default model (another hash): drop the stale copy from the package's cache.
    try {
      const prev = localStorage.getItem("np-demo-model-sha256");
      if (prev && prev !== site.model.sha256) await clearCache();
      localStorage.setItem("np-demo-model-sha256", site.model.sha256);
    } catch { /* storage off */ }
  }
  const opts = { onProgress: progress };
  if (model) opts.model = model;
  if (params.get("threads")) opts.threads = Number(params.get("threads"));
  if (params.get("build")) opts.build = params.get("build");
  const tc = await createToolCaller(opts);
  state.tc = tc;
  state.loadedAt = performance.now();
  watchNetwork();
  $("engine").textContent = `${tc.build} build, ${tc.threads} thread${tc.threads > 1 ? "s" : ""}, ${tc.inWorker ? "in a Worker" : "on the page"}` +
    `${self.crossOriginIsolated ? " (cross-origin isolated)" : " (not isolated: single thread)"}`;
  $("model-info").textContent = `${MB(tc.model.fileBytes)}, ${tc.model.nEncLayers}+${tc.model.nDecLayers} layers, d=${tc.model.dModel}` +
    (params.get("model") ? ` (${params.get("model")})` : "");
  $("query").disabled = false;
  $("run").disabled = false;
  $("tune-generate").disabled = false;
  document.body.dataset.state = "ready";
  return tc;
}

// ---- privacy: every resource fetched after the model loaded (page + this document's fetches) ----
function watchNetwork() {
  const render = () => {
    $("net-count").textContent = String(state.requests.length);
    $("net-count").classList.toggle("zero", state.requests.length === 0);
    $("net-list").replaceChildren(...state.requests.slice(-5).map((u) => Object.assign(document.createElement("li"), { textContent: u })));
  };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if (e.startTime >= state.loadedAt) state.requests.push(e.name);
    render();
  }).observe({ type: "resource", buffered: true });
  render();
}
function showOnline() {
  $("online").textContent = navigator.onLine ? "online (not used by the model)" : "offline: still works";
}
addEventListener("online", showOnline);
addEventListener("offline", showOnline);
showOnline();

// ---- running a call ----
function card(call, effect) {
  const div = document.createElement("div");
  div.className = "card";
  const h = document.createElement("h4");
  h.textContent = call.name;
  const dl = document.createElement("dl");
  const args = Object.entries(call.arguments ?? {});
  if (!args.length) dl.append(Object.assign(document.createElement("dt"), { textContent: "(no arguments)" }), document.createElement("dd"));
  for (const [k, v] of args) {
    dl.append(Object.assign(document.createElement("dt"), { textContent: k }),
              Object.assign(document.createElement("dd"), { textContent: typeof v === "string" ? v : JSON.stringify(v) }));
  }
  div.append(h, dl);
  if (effect) div.append(Object.assign(document.createElement("p"), { className: `effect ${effect.ok ? "ok" : "bad"}`, textContent: effect.text }));
  return div;
}

function metrics(r) {
  const t = r.timings;
  const rows = [
    ["Tokenize", ms(t.tokenizeMs)],
    ["Encode", ms(t.encodeMs) + ({ hit: " (tool list cached: query only)", miss: " (tool list encoded and cached)" }[r.catalog] ?? "")],
    ["Decode", ms(t.decodeMs)],
    ["Engine total", ms(t.totalMs)], ["As the page saw it", ms(t.wallMs)],
    ["Tokens in / out", `${r.tokens.input} / ${r.tokens.output}`],
    ["Decode speed", t.decodeMs > 0 ? `${(r.tokens.output / (t.decodeMs / 1000)).toFixed(1)} tokens/s` : "\u2013"],
    ["Build, threads", `${r.build}, ${r.threads}${r.inWorker ? " (Worker)" : ""}`],
    ["Stop", r.stopReason + (r.truncated ? ", input truncated" : "")],
    ["Confidence", typeof r.confidence === "number" ? r.confidence.toFixed(2) : "not in the API yet"],
  ];
  $("metrics").replaceChildren(...rows.flatMap(([k, v]) => [Object.assign(document.createElement("dt"), { textContent: k }),
                                                          Object.assign(document.createElement("dd"), { textContent: v })]));
}

function showError(message) {
  $("cards").replaceChildren(Object.assign(document.createElement("p"), { className: "error", textContent: message }));
}

async function run(query) {
  query = (query ?? $("query").value).trim();
  if (!state.tc || state.busy || !query) return null;
  $("query").value = query;
  const tools = validateTools();
  if (!tools.ok) {
    $("tools").focus();
    $("tools").setSelectionRange(tools.offset, tools.offset + 1);
    showError("Fix the tools JSON first (see the message under the editor).");
    return null;
  }
  state.busy = true;
  document.body.dataset.state = "running";
  $("run").disabled = true;
  $("stream").textContent = "";
  try {
    const r = await state.tc.call(query, tools.value, { onToken: (t) => { $("stream").textContent += t.text; } });
    state.last = r;
    const effects = state.preset.page ? r.calls.map((c) => actions.dispatch(c)) : [];
    $("cards").replaceChildren(...(r.calls.length ? r.calls.map((c, k) => card(c, effects[k]))
      : [Object.assign(document.createElement("p"), { className: "muted", textContent: "The model made no call." })]));
    $("result-json").textContent = JSON.stringify({ calls: r.calls, raw: r.raw, valid: r.valid, stopReason: r.stopReason,
      tokens: r.tokens, timings: r.timings, build: r.build, threads: r.threads, inWorker: r.inWorker }, null, 2);
    metrics(r);
    return r;
  } catch (e) {
    if (e instanceof InvalidToolsError) $("tools-error").textContent = `The engine rejected the tools: ${e.message}`;
    showError(`${e.name} (${e.code ?? "?"}): ${e.message}`);
    return { error: { name: e.name, code: e.code, message: e.message } };
  } finally {
    state.busy = false;
    $("run").disabled = false;
    document.body.dataset.state = "ready";
  }
}
$("query-form").addEventListener("submit", (ev) => { ev.preventDefault(); run(); });

// ---- fine-tuning in the tab ----
function tuneError(message) { $("tune-error").textContent = message; }

/** Examples from the seeds in the editor and the tools in the tools editor. */
function generateExamples(count = Number($("tune-count").value) || 200) {
  tuneError("");
  const tools = validateTools();
  if (!tools.ok) { tuneError("Fix the tools JSON first."); return null; }
  let seeds;
  try { seeds = JSON.parse($("tune-seeds").value); } catch (e) { tuneError(`The examples are not valid JSON: ${e.message}`); return null; }
  try {
    tune.examples = synthesizeExamples(tools.value, seeds, { count, seed: 1 });
  } catch (e) { tuneError(e.message); return null; }
  $("tune-status").textContent = `${tune.examples.length} examples ready (${seeds.length} written, the rest generated from them).`;
  $("tune-start").disabled = false;
  return tune.examples.length;
}
$("tune-generate").addEventListener("click", () => generateExamples());

function drawLoss() {
  const l = tune.losses;
  if (!l.length) { $("tune-line").setAttribute("points", ""); return; }
  const max = Math.max(...l), min = Math.min(...l, 0);
  $("tune-line").setAttribute("points", l.map((v, i) => `${(i / Math.max(1, l.length - 1)) * 300},${78 - ((v - min) / Math.max(1e-9, max - min)) * 76}`).join(" "));
}

function showTuneResult(r) {
  const pct = (m) => (m ? `${(m.exactMatch * 100).toFixed(0)}% of ${m.examples}` : "not measured");
  const rows = [["Exact match before (held out)", pct(r.before)], ["Exact match after (held out)", pct(r.after)],
                ["Steps, time", `${r.steps}, ${r.seconds.toFixed(1)} s`], ["Speed", `${r.examplesPerSecond.toFixed(0)} examples/s`],
                ["Tuned model", MB(r.model.length)]];
  $("tune-result").replaceChildren(...rows.flatMap(([k, v]) => [Object.assign(document.createElement("dt"), { textContent: k }),
                                                              Object.assign(document.createElement("dd"), { textContent: v })]));
}

async function finetune(steps = Number($("tune-steps").value) || 150) {
  if (!state.tc || state.busy || !tune.examples) return null;
  tuneError("");
  state.busy = true;
  tune.abort = new AbortController();
  tune.losses = [];
  drawLoss();
  for (const id of ["tune-start", "tune-generate", "run"]) $(id).disabled = true;
  $("tune-cancel").disabled = false;
  try {
    const r = await state.tc.finetune({ examples: tune.examples, steps, validationSplit: 0.2, signal: tune.abort.signal,
      onProgress: (p) => {
        tune.losses.push(p.loss);
        drawLoss();
        $("tune-status").textContent = `Step ${p.step} of ${p.steps}, loss ${p.loss.toFixed(3)}, ` +
          `${p.examplesPerSecond.toFixed(0)} examples/s, about ${Math.ceil(p.etaSeconds)} s left`;
      } });
    tune.result = r;
    showTuneResult(r);
    // The tuned model as a file the user keeps (a blob: URL: nothing goes over the network).
    const link = $("tune-download");
    if (link.href) URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(new Blob([r.model], { type: "application/octet-stream" }));
    link.hidden = false;
    $("tune-status").textContent = `Done: ${r.steps} steps in ${r.seconds.toFixed(1)} s.`;
    $("tune-use").disabled = false;
    return r;
  } catch (e) {
    tuneError(e.name === "AbortError" ? "Cancelled: the model is unchanged." : `${e.name} (${e.code ?? "?"}): ${e.message}`);
    return { error: { name: e.name, code: e.code, message: e.message } };
  } finally {
    state.busy = false;
    tune.abort = null;
    $("tune-cancel").disabled = true;
    for (const id of ["tune-start", "tune-generate", "run"]) $(id).disabled = false;
  }
}
$("tune-start").addEventListener("click", () => finetune());
$("tune-cancel").addEventListener("click", () => tune.abort?.abort());

/** Loads the tuned model into the same engine (no new instance: nothing is fetched); the
 * original model's bytes are kept for going back. */
async function useTuned() {
  if (!tune.result || state.busy) return false;
  state.busy = true;
  try {
    tune.original ??= await state.tc.modelBytes();
    await state.tc.loadModel(tune.result.model);
  } finally {
    state.busy = false;
  }
  $("model-info").textContent = `tuned in this tab: ${MB(tune.result.model.length)}, ${tune.result.steps} steps`;
  $("tune-revert").disabled = false;
  return true;
}
async function revert() {
  if (!tune.original || state.busy) return false;
  state.busy = true;
  try {
    await state.tc.loadModel(tune.original);
  } finally {
    state.busy = false;
  }
  tune.original = null;
  $("model-info").textContent = `the original model (${MB(state.tc.model.fileBytes)})`;
  $("tune-revert").disabled = true;
  return true;
}
$("tune-use").addEventListener("click", () => useTuned());
$("tune-revert").addEventListener("click", () => revert());

// ---- offline copy ----
// Registered before the engine loads, and waited for (up to 15 s), so that the package's
// files come from the offline copy and nothing is fetched after the model has loaded.
async function registerServiceWorker() {
  if (!("serviceWorker" in navigator) || params.has("nosw")) { $("sw-state").textContent = "off"; return false; }
  const sw = navigator.serviceWorker;
  const hadController = !!sw.controller;
  const controlled = hadController ? Promise.resolve() : new Promise((r) => sw.addEventListener("controllerchange", r, { once: true }));
  sw.addEventListener("controllerchange", () => { if (hadController) $("update-note").hidden = false; });
  await sw.register("sw.js");
  await sw.ready; // active: its install step cached the app and the builds
  await controlled; // its activate step claimed this page
  $("sw-state").textContent = "saved: the page loads without a network";
  return true;
}

selectPreset(params.get("preset") ?? PRESETS[0].id);
const offlineReady = registerServiceWorker().catch((e) => { $("sw-state").textContent = `unavailable (${e.message})`; return false; });
const ready = Promise.race([offlineReady, new Promise((r) => setTimeout(r, 15000))]).then(load).catch((e) => {
  document.body.dataset.state = "error";
  $("progress-label").textContent = "The engine could not start";
  $("load-detail").textContent = `${e.name} (${e.code ?? "?"}): ${e.message}`;
  throw e;
});

// For tests and the console: the same functions the page's controls use.
window.needlepointDemo = {
  presets: PRESETS, ready, offlineReady, run, selectPreset,
  dispatch: (call) => actions.dispatch(call),
  generateExamples, finetune, useTuned, revert,
  get tuneLosses() { return [...tune.losses]; },
  get lastResult() { return state.last; },
  get requestsSinceLoad() { return [...state.requests]; },
};
