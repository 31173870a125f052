// handoff.test.mjs — retrieval, confidence and the hand-off through the JS API: confidence
// fields equal to the native CLI's, retrieve() against `needlepoint retrieve`, tool
// pre-selection, and the fallback path against a real OpenAI-compatible HTTP server on
// 127.0.0.1 (openAICompatibleFallback), in Node and through the Worker proxy in Chromium.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { CLI, SOURCE_DIR, DIST, TOOLS, CASES, makeModels, makeTempDir, nativeRun } from "./common.mjs";
import { startServer } from "./server.mjs";

const np = await import(pathToFileURL(join(DIST, "node.js")).href);
const dir = makeTempDir("np-handoff-");
let models, tc, llm;

// A catalog larger than the pre-selection threshold.
const CATALOG = Array.from({ length: 14 }, (_, i) => ({
  name: ["get_weather", "play_music", "set_timer", "send_email", "find_route", "add_note", "take_photo"][i % 7] + "_" + i,
  description: ["Weather for a city", "Play a song", "Start a timer", "Send an email", "Directions", "Write a note", "Take a photo"][i % 7],
  parameters: { value: { type: "string", required: true } },
}));

/** An OpenAI-compatible chat-completions server: records requests, answers with `reply`. */
function startLlm() {
  const requests = [];
  let reply = { status: 200, body: {} };
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => { body += c; });
    req.on("end", () => {
      requests.push({ path: req.url, headers: req.headers, body: body ? JSON.parse(body) : null });
      res.writeHead(reply.status, { "content-type": "application/json" });
      res.end(JSON.stringify(reply.body));
    });
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({
    baseUrl: `http://127.0.0.1:${server.address().port}/v1`, requests,
    answer(r) { reply = r; }, close: () => new Promise((r) => server.close(r)),
  })));
}

const toolCallReply = (name, args) => ({ status: 200, body: { choices: [{ message: { role: "assistant", content: null,
  tool_calls: [{ id: "c1", type: "function", function: { name, arguments: JSON.stringify(args) } }] } }] } });

before(async () => {
  models = makeModels(dir);
  tc = await np.createToolCaller({ model: models.small_f32, build: "st" });
  llm = await startLlm();
});

after(async () => {
  await tc?.dispose();
  await llm?.close();
});

test("confidence fields: in range, equal to the native CLI's, local source", async () => {
  for (const [name, query, toolsKey, opts] of CASES) {
    const r = await tc.call(query, TOOLS[toolsKey], opts);
    const native = nativeRun(models.small_f32, query, TOOLS[toolsKey], opts, dir);
    assert.equal(r.source, "local", name);
    assert.equal(r.handoff, undefined, name);
    assert.ok(r.confidence >= 0 && r.confidence <= 1, `${name}: ${r.confidence}`);
    assert.ok(Math.abs(r.confidence - native.confidence) < 1e-4, `${name}: ${r.confidence} vs ${native.confidence}`);
    assert.equal(r.callConfidence.length, r.calls.length, name);
    for (const c of r.callConfidence) assert.ok(c >= r.confidence - 1e-9 && c <= 1, name);
    if (opts.constrained === false) assert.equal(r.noCallProbability, -1, name);
    else assert.ok(Math.abs(r.noCallProbability - native.no_call_probability) < 1e-4, name);
    assert.deepEqual(r.preselected, [], name);
  }
});

test("retrieve: every tool ranked as the native CLI ranks them; k; errors", async () => {
  const ranked = await tc.retrieve("what's the weather in Paris", CATALOG);
  const toolsFile = join(dir, "catalog.json");
  writeFileSync(toolsFile, JSON.stringify(CATALOG));
  const native = JSON.parse(execFileSync(CLI, ["retrieve", "--model", models.small_f32, "--query", "what's the weather in Paris",
                                               "--tools", "@" + toolsFile], { encoding: "utf8" }));
  assert.equal(ranked.length, CATALOG.length);
  assert.deepEqual(ranked.map((t) => t.name), native.map((t) => t.name));
  for (let i = 0; i < ranked.length; i++) {
    assert.ok(Math.abs(ranked[i].score - native[i].score) < 1e-4);
    assert.equal(CATALOG[ranked[i].index].name, ranked[i].name);
    if (i) assert.ok(ranked[i].score <= ranked[i - 1].score);
  }
  assert.equal((await tc.retrieve("play a song", CATALOG, 3)).length, 3);
  await assert.rejects(tc.retrieve("x", CATALOG, 0), np.InvalidInputError);
  await assert.rejects(tc.retrieve("x", "[{"), np.InvalidToolsError);
});

test("pre-selection: a large list is narrowed to the closest tools, as natively", async () => {
  const r = await tc.call("play a song", CATALOG, { preselectAbove: 10, preselectK: 3 });
  const native = nativeRun(models.small_f32, "play a song", CATALOG, {}, dir);   // CLI defaults: 10 / 8
  assert.equal(r.preselected.length, 3);
  assert.deepEqual(r.preselected, (await tc.retrieve("play a song", CATALOG, 3)).map((t) => t.name));
  for (const c of r.calls) assert.ok(r.preselected.includes(c.name));
  assert.equal(native.preselected.length, 8);
  const off = await tc.call("play a song", CATALOG, { preselectAbove: -1 });
  assert.deepEqual(off.preselected, []);
  await assert.rejects(tc.call("x", CATALOG, { preselectK: 0 }), np.InvalidInputError);
  await assert.rejects(tc.call("x", CATALOG, { preselectAbove: 2.5 }), np.InvalidInputError);
});

test("decoding priors: the option reaches the engine as the CLI's flags do; bad values are refused", async () => {
  const tools = CATALOG.slice(0, 7);
  for (const [query, want] of [["take a photo of the sky", "take_photo_6"], ["directions to the station", "find_route_4"]]) {
    const strong = await tc.call(query, tools, { priors: { toolName: 100, toolCall: 100, copy: 0 } });
    const native = nativeRun(models.small_f32, query, tools, { toolPrior: "100,100", copyPrior: 0 }, dir);
    assert.deepEqual(strong.calls, native.calls);
    assert.equal(strong.raw, native.raw);
    assert.equal(strong.priorOverrides, native.prior_overrides);
    assert.equal(strong.calls[0]?.name, want, `${query} -> ${strong.raw}`);
    const off = await tc.call(query, tools, { priors: false });
    assert.equal(off.priorOverrides, 0);
    assert.equal(off.raw, nativeRun(models.small_f32, query, tools, { toolPrior: "0,0", copyPrior: 0 }, dir).raw);
  }
  // The echo prior, on strongly with the copy prior: the same answer as the CLI's flags give.
  const query = "find the weather in Lisbon tomorrow";
  const echo = await tc.call(query, tools, { priors: { copy: 5, echo: 100 } });
  const echoNative = nativeRun(models.small_f32, query, tools, { copyPrior: 5, echoPrior: 100 }, dir);
  assert.equal(echo.raw, echoNative.raw);
  assert.equal(echo.priorOverrides, echoNative.prior_overrides);
  for (const bad of [{ toolName: -1 }, { copy: 101 }, { toolCall: Number.NaN }, { name: 1 }, { echo: -3 }, "yes", null]) {
    await assert.rejects(tc.call("x", CATALOG, { priors: bad }), np.InvalidInputError, JSON.stringify(bad));
  }
});

test("sparse logits: the answer full logits give, fewer logits computed; fullLogits reaches the engine", async () => {
  const tools = CATALOG.slice(0, 7);
  let sparseSteps = 0;
  for (const query of ["take a photo of the sky", "directions to the station"]) {
    const priors = { toolName: 100, toolCall: 100, copy: 0 };  // a call, so steps after its start
    const sparse = await tc.call(query, tools, { priors });
    const full = await tc.call(query, tools, { priors, fullLogits: true });
    assert.equal(sparse.raw, full.raw);
    assert.deepEqual(sparse.calls, full.calls);
    assert.equal(full.tokens.sparse, 0);
    assert.ok(sparse.confidence >= full.confidence, `${sparse.confidence} >= ${full.confidence}`);  // no calibration here
    sparseSteps += sparse.tokens.sparse;
    // The CLI's --full-logits gives the same.
    assert.equal(full.raw, nativeRun(models.small_f32, query, tools, { toolPrior: "100,100", copyPrior: 0 }, dir).raw);
  }
  assert.ok(sparseSteps > 0);
  for (const bad of ["yes", 1, null]) {
    await assert.rejects(tc.call("x", CATALOG, { fullLogits: bad }), np.InvalidInputError, JSON.stringify(bad));
  }
});

test("hand-off to an OpenAI-compatible endpoint on 127.0.0.1: low confidence goes to the fallback", async () => {
  const fallback = np.openAICompatibleFallback({ baseUrl: llm.baseUrl, model: "test-model", apiKey: "k123" });
  const e = await np.createToolCaller({ model: models.small_f32, build: "st", fallback, confidenceThreshold: 1 });
  try {
    llm.answer(toolCallReply("setTimer", { minutes: 10 }));
    const before = llm.requests.length;
    const r = await e.call("Set a timer for 10 minutes", TOOLS.openai);
    assert.equal(r.truncated, false);
    assert.equal(r.source, "fallback");
    assert.deepEqual(r.calls, [{ name: "setTimer", arguments: { minutes: 10 } }]);
    assert.equal(r.handoff.reason, "low-confidence");
    assert.ok(r.handoff.localConfidence < 1 && Array.isArray(r.handoff.localCalls));
    assert.equal(llm.requests.length, before + 1);
    const req = llm.requests.at(-1);
    assert.equal(req.path, "/v1/chat/completions");
    assert.equal(req.headers.authorization, "Bearer k123");
    assert.equal(req.body.model, "test-model");
    assert.deepEqual(req.body.messages.at(-1), { role: "user", content: "Set a timer for 10 minutes" });
    assert.deepEqual(req.body.tools, TOOLS.openai);
    // Every shape of tool goes out in OpenAI's form, with a JSON-Schema object.
    const converted = TOOLS.mixed.map(np.toOpenAITool);
    assert.deepEqual(converted.map((t) => [t.type, t.function.name, t.function.parameters.type]),
                     [["function", "get_weather", "object"], ["function", "setTimer", "object"], ["function", "lights", "object"]]);
    assert.deepEqual(converted[0].function.parameters.required, ["city"]);
    assert.deepEqual(converted[0].function.parameters.properties.city, { type: "string" });
    assert.deepEqual(converted[2].function.parameters, TOOLS.anthropic[0].input_schema);
    // A cut input is handed off too ("truncated": the mixed list does not fit this small model).
    const cut = await e.call("Set a timer for 10 minutes", TOOLS.mixed);
    assert.equal(cut.truncated, true);
    assert.equal(cut.handoff.reason, "truncated");

    // Confident enough: answered locally, no request.
    const n = llm.requests.length;
    const local = await e.call("Set a timer for 10 minutes", TOOLS.openai, { confidenceThreshold: 0 });
    assert.equal(local.source, "local");
    assert.equal(local.handoff, undefined);
    assert.equal(llm.requests.length, n);

    // The endpoint fails: the local answer is kept and the failure reported.
    llm.answer({ status: 500, body: { error: "down" } });
    const failed = await e.call("Set a timer for 10 minutes", TOOLS.openai);
    assert.equal(failed.source, "local");
    assert.match(failed.handoff.error, /HTTP 500/);
    assert.deepEqual(failed.calls, failed.handoff.localCalls);

    // A fallback that calls a tool it was not given is not believed.
    llm.answer(toolCallReply("delete_everything", {}));
    const rogue = await e.call("Set a timer for 10 minutes", TOOLS.openai);
    assert.equal(rogue.source, "local");
    assert.match(rogue.handoff.error, /not one of the tools offered/);

    // No tool call in the answer: the fallback says "no call".
    llm.answer({ status: 200, body: { choices: [{ message: { role: "assistant", content: "Hello!" } }] } });
    const none = await e.call("hi there", TOOLS.openai);
    assert.equal(none.source, "fallback");
    assert.deepEqual(none.calls, []);
  } finally {
    await e.dispose();
  }
});

test("hand-off rules: dropped calls, a custom rule, per-call fallback, abort, bad options", async () => {
  const seen = [];
  const fallback = async (query, tools, ctx) => { seen.push(ctx.reason); return []; };
  // The token budget cuts the call: "incomplete".
  const cut = await tc.call("Set a timer for 5 minutes", TOOLS.openai, { maxTokens: 6, fallback, confidenceThreshold: 0 });
  const plain = await tc.call("Set a timer for 5 minutes", TOOLS.openai, { maxTokens: 6 });
  if (plain.droppedCalls > 0) {
    assert.equal(cut.source, "fallback");
    assert.equal(cut.handoff.reason, "incomplete");
  } else {
    assert.equal(cut.source, "local");
  }
  const e = await np.createToolCaller({ model: models.small_f32, build: "st", fallback,
                                        fallbackWhen: (r, threshold) => (threshold === 0.5 && r.source === "local" ? "custom" : null) });
  try {
    const r = await e.call("hello", TOOLS.flat);
    assert.equal(r.source, "fallback");
    assert.equal(r.handoff.reason, "custom");
    assert.deepEqual(r.calls, []);
    const ac = new AbortController();
    const slow = () => new Promise((_, reject) => ac.signal.addEventListener("abort", () => reject(new Error("aborted"))));
    const p = tc.call("hello", TOOLS.flat, { fallback: slow, confidenceThreshold: 1, signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    await assert.rejects(p, np.AbortError);
    await assert.rejects(e.call("hello", TOOLS.flat, { confidenceThreshold: 2 }), np.InvalidInputError);
    await assert.rejects(e.call("hello", TOOLS.flat, { fallback: "https://x" }), np.InvalidInputError);
  } finally {
    await e.dispose();
  }
  assert.ok(seen.length >= 1);
  assert.throws(() => np.openAICompatibleFallback({ model: "m" }), np.InvalidInputError);
});

test("Chromium: the Worker proxy hands off on the page side; retrieve through the Worker", async () => {
  const { chromium } = createRequire(join(SOURCE_DIR, "web", "package.json"))("playwright-core");
  const browser = await chromium.launch({ executablePath: process.env.NP_CHROMIUM || "/usr/bin/chromium", headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run"] });
  const server = await startServer({ pkgDir: DIST, modelsDir: dir, isolated: false });
  try {
    const page = await browser.newPage();
    await page.goto(`${server.origin}/blank.html`);
    const out = await page.evaluate(async ({ tools, catalog }) => {
      const np = await import("/pkg/browser.js");
      const tc = await np.createToolCaller({ model: "/models/small-f32.gguf", cache: false, worker: true,
        fallback: async (q, t, ctx) => [{ name: "setTimer", arguments: { minutes: 3, why: ctx.reason } }], confidenceThreshold: 1 });
      const r = await tc.call("Set a timer for 3 minutes", tools);
      const ranked = await tc.retrieve("play a song", catalog, 2);
      const local = await tc.call("Set a timer for 3 minutes", tools, { confidenceThreshold: 0 });
      const prior = await tc.call("take a photo of the sky", catalog.slice(0, 7),
        { confidenceThreshold: 0, priors: { toolName: 100, toolCall: 100, copy: 0 } });
      let badPrior = "";
      try { await tc.call("x", tools, { priors: { copy: -2 } }); } catch (e) { badPrior = e.name; }
      await tc.dispose();
      return { inWorker: tc.inWorker, source: r.source, calls: r.calls, reason: r.handoff?.reason, ranked: ranked.length,
               localSource: local.source, priorRaw: prior.raw, priorOverrides: prior.priorOverrides, badPrior };
    }, { tools: TOOLS.openai, catalog: CATALOG });
    const native = nativeRun(models.small_f32, "take a photo of the sky", CATALOG.slice(0, 7), { toolPrior: "100,100", copyPrior: 0 }, dir);
    assert.equal(out.priorRaw, native.raw);
    assert.equal(out.priorOverrides, native.prior_overrides);
    assert.equal(out.badPrior, "InvalidInputError");
    assert.equal(out.inWorker, true);
    assert.equal(out.source, "fallback");
    assert.deepEqual(out.calls, [{ name: "setTimer", arguments: { minutes: 3, why: "low-confidence" } }]);
    assert.equal(out.reason, "low-confidence");
    assert.equal(out.ranked, 2);
    assert.equal(out.localSource, "local");
  } finally {
    await browser.close();
    await server.close();
  }
});
