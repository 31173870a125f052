// finetune.test.mjs — in-tab fine-tuning through the JS API: a base trained here with the
// native CLI on the tiny fixture (tests/fixtures/data), then LoRA-tuned in WebAssembly on
// three tools it never saw (new_tools_train.jsonl); exact match on their held-out queries
// (new_tools_test.jsonl) must rise, the tuned bytes load and run, a cancelled run leaves the
// engine usable; in Node (st and mt) and in Chromium through the Worker proxy.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { CLI, SOURCE_DIR, DIST, makeTempDir } from "./common.mjs";
import { startServer } from "./server.mjs";

const np = await import(pathToFileURL(join(DIST, "node.js")).href);
const dir = makeTempDir("np-ft-");
const FIX = join(SOURCE_DIR, "tests", "fixtures", "data");
const readJsonl = (name) => readFileSync(join(FIX, name), "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
const NEW_TRAIN = readJsonl("new_tools_train.jsonl");
const NEW_TEST = readJsonl("new_tools_test.jsonl");
// The recipe tests/cli/check_train.py measured natively (600 steps of rank-8 LoRA at 1e-2: 0.0 -> 0.6-0.7).
// All 32 examples train (validationSplit 0); the 10 queries of new_tools_test.jsonl measure.
const RECIPE = { steps: 600, batch: 8, learningRate: 1e-2, loraRank: 8, validationSplit: 0, seed: 1 };
let base;

before(() => {
  // Tokenizer and base model, as check_train.py makes them (about 20 s natively).
  const corpus = join(dir, "corpus.txt");
  const lines = [];
  for (const name of ["tiny_tools.jsonl", "new_tools_train.jsonl"]) {
    for (const ex of readJsonl(name)) lines.push(ex.query, JSON.stringify(ex.tools), JSON.stringify(ex.answers));
  }
  writeFileSync(corpus, lines.join("\n") + "\n");
  execFileSync("spm_train", [`--input=${corpus}`, `--model_prefix=${join(dir, "tok")}`, "--vocab_size=640",
    "--hard_vocab_limit=false", "--model_type=bpe", "--pad_id=0", "--eos_id=1", "--bos_id=2", "--unk_id=3",
    "--user_defined_symbols=<tool_call>,<tools>", "--byte_fallback=true", "--normalization_rule_name=identity",
    "--num_threads=2", "--max_sentence_length=16384", "--minloglevel=1"]);
  base = join(dir, "base.gguf");
  execFileSync(CLI, ["train", "--data", join(FIX, "tiny_tools.jsonl"), "--out", base, "--spm", join(dir, "tok.model"),
    "--config", "small", "--batch", "8", "--lr", "3e-3", "--muon-lr", "0.02", "--seed", "1", "--steps", "900",
    "--log-every", "1000"], { stdio: ["ignore", "ignore", "pipe"] });
});

/** Exact match of an engine on examples (the calls as a multiset; values compared as JSON). */
async function exactMatch(tc, examples) {
  const key = (calls) => calls.map((c) => JSON.stringify([c.name, Object.entries(c.arguments).sort()])).sort().join("|");
  let hits = 0;
  for (const ex of examples) {
    const r = await tc.call(ex.query, ex.tools);
    if (key(r.calls) === key(ex.answers)) hits++;
  }
  return hits / examples.length;
}

for (const build of ["st", "mt"]) {
  test(`Node ${build}: LoRA fine-tuning raises exact match on unseen tools; the tuned model loads and runs`, async () => {
    const tc = await np.createToolCaller({ model: base, build, threads: build === "mt" ? 2 : undefined });
    try {
      const progress = [];
      const r = await tc.finetune({ ...RECIPE, examples: NEW_TRAIN, onProgress: (p) => progress.push(p) });
      assert.equal(r.steps, 600);
      assert.ok(r.model instanceof Uint8Array && r.model.length > 10000);
      assert.ok(progress.length >= 3 && progress.at(-1).step === 600 && progress.at(-1).steps === 600);
      assert.ok(progress.every((p, i) => i === 0 || p.step > progress[i - 1].step), "progress moves forward");
      assert.ok(r.losses.at(-1) < r.losses[0] / 2, `the loss falls: ${r.losses[0]} -> ${r.losses.at(-1)}`);
      assert.equal(r.before, null);   // nothing held out
      const tuned = await np.createToolCaller({ model: r.model, build: "st" });
      const emBefore = await exactMatch(tc, NEW_TEST);
      const emAfter = await exactMatch(tuned, NEW_TEST);
      await tuned.dispose();
      console.log(`# ${build}: exact match on the 10 held-out queries ${emBefore.toFixed(2)} -> ${emAfter.toFixed(2)}; ` +
                  `${r.seconds.toFixed(1)} s, ${r.examplesPerSecond.toFixed(1)} examples/s`);
      assert.ok(emAfter >= emBefore + 0.5, `exact match ${emBefore} -> ${emAfter}`);
      // The engine still has its base model.
      assert.equal(await exactMatch(tc, NEW_TEST), emBefore);
    } finally {
      await tc.dispose();
    }
  });
}

test("synthesizeExamples: grounded, varied, deterministic; a fine-tune on 6 seeds' examples raises exact match", async () => {
  const tools = [];
  for (const ex of NEW_TRAIN) for (const t of ex.tools) if (!tools.some((x) => x.name === t.name)) tools.push(t);
  const byTool = new Map();
  for (const ex of NEW_TRAIN) {
    const k = ex.answers[0]?.name ?? "";
    if (!byTool.has(k)) byTool.set(k, []);
    byTool.get(k).push({ query: ex.query, answers: ex.answers });
  }
  byTool.delete("");   // the seeds are requests; the synthesizer adds the no-call ones
  const seeds = [...byTool.values()].flatMap((l) => l.slice(0, 2));
  assert.equal(seeds.length, 6);
  const ex = np.synthesizeExamples(tools, seeds, { count: 160, seed: 3 });
  assert.equal(ex.length, 160);
  assert.deepEqual(np.synthesizeExamples(tools, seeds, { count: 160, seed: 3 }), ex, "deterministic for a seed");
  assert.notDeepEqual(np.synthesizeExamples(tools, seeds, { count: 160, seed: 4 }), ex);
  const noCall = ex.filter((e) => e.answers.length === 0).length;
  assert.equal(noCall, 16, "10% no-call");
  assert.ok(new Set(ex.map((e) => e.query)).size >= 120, "varied queries");
  const names = new Set(tools.map((t) => t.name));
  for (const e of ex) {
    for (const c of e.answers) {
      assert.ok(names.has(c.name) && e.tools.some((t) => t.name === c.name), `${c.name} is offered`);
      for (const v of Object.values(c.arguments)) {
        if (typeof v === "string" || typeof v === "number") {
          assert.ok(e.query.toLowerCase().includes(String(v).toLowerCase()), `"${v}" is written in "${e.query}"`);
        }
      }
    }
  }
  assert.throws(() => np.synthesizeExamples(tools, [{ query: "x", answers: [{ name: "nope", arguments: {} }] }]), np.InvalidInputError);
  assert.throws(() => np.synthesizeExamples([], seeds), np.InvalidInputError);
  const tc = await np.createToolCaller({ model: base, build: "st" });
  try {
    const r = await tc.finetune({ examples: ex, steps: 300, batch: 8, learningRate: 1e-2, loraRank: 8, validationSplit: 0.2 });
    const tuned = await np.createToolCaller({ model: r.model, build: "st" });
    const emBefore = await exactMatch(tc, NEW_TEST), emAfter = await exactMatch(tuned, NEW_TEST);
    await tuned.dispose();
    console.log(`# synthesized from 6 seeds: held-out share ${r.before.exactMatch.toFixed(2)} -> ${r.after.exactMatch.toFixed(2)}, ` +
                `the 10 real held-out queries ${emBefore.toFixed(2)} -> ${emAfter.toFixed(2)}`);
    assert.ok(r.after.exactMatch >= r.before.exactMatch + 0.2, `held-out share ${r.before.exactMatch} -> ${r.after.exactMatch}`);
    assert.ok(emAfter > emBefore, `real queries ${emBefore} -> ${emAfter}`);
  } finally {
    await tc.dispose();
  }
});

test("Node: cancelling a run leaves the engine usable; bad options are InvalidInputError", async () => {
  const tc = await np.createToolCaller({ model: base, build: "st" });
  try {
    const ac = new AbortController();
    let seen = 0;
    await assert.rejects(tc.finetune({ ...RECIPE, examples: NEW_TRAIN, signal: ac.signal,
                                       onProgress: () => { if (++seen === 2) ac.abort(); } }), np.AbortError);
    const r = await tc.call(NEW_TEST[0].query, NEW_TEST[0].tools);
    assert.equal(r.valid, true);
    const again = await tc.finetune({ ...RECIPE, steps: 5, examples: NEW_TRAIN, evaluate: false });
    assert.equal(again.steps, 5);
    assert.equal(again.before, null);
    // With a held-out share, before and after are measured on it.
    const held = await tc.finetune({ ...RECIPE, steps: 40, examples: NEW_TRAIN, validationSplit: 0.3 });
    assert.ok(held.validationExamples > 0 && held.validationExamples < NEW_TRAIN.length);
    assert.equal(held.before.examples, held.validationExamples);
    assert.equal(held.after.examples, held.validationExamples);
    assert.ok(held.before.exactMatch >= 0 && held.after.exactMatch <= 1);
    for (const bad of [{ examples: "nope" }, { examples: [NEW_TRAIN[0]] }, { examples: NEW_TRAIN, type: "q5" },
                       { examples: NEW_TRAIN, loraRank: -1 }, { examples: [{ query: "", tools: [], answers: [] }, NEW_TRAIN[0]] },
                       { examples: NEW_TRAIN, validationSplit: 1 }]) {
      await assert.rejects(tc.finetune(bad), np.InvalidInputError, JSON.stringify(bad).slice(0, 80));
    }
    await assert.rejects(tc.finetune({ examples: "{\"query\": 1}\n{\"query\": 2}\n" }), np.NeedlepointError);
    assert.equal((await tc.call(NEW_TEST[0].query, NEW_TEST[0].tools)).valid, true);
    // loadModel swaps the model in place; a bad file leaves the current one; modelBytes round-trips.
    const original = await tc.modelBytes();
    assert.deepEqual(Buffer.from(original), readFileSync(base));
    const answer = (await tc.call(NEW_TEST[1].query, NEW_TEST[1].tools)).raw;
    await assert.rejects(tc.loadModel(new Uint8Array(1000).fill(7)), np.ModelFormatError);
    assert.equal((await tc.call(NEW_TEST[1].query, NEW_TEST[1].tools)).raw, answer, "the old model stays after a bad load");
    const info = await tc.loadModel(held.model);
    assert.equal(info.fileBytes, held.model.length);
    assert.equal(tc.model.fileBytes, held.model.length);
    await tc.loadModel(original);
    assert.equal((await tc.call(NEW_TEST[1].query, NEW_TEST[1].tools)).raw, answer, "back to the original");
  } finally {
    await tc.dispose();
  }
});

test("Chromium: fine-tuning through the Worker proxy (mt), with progress, cancel, and the tuned model in a new engine", async () => {
  const { chromium } = createRequire(join(SOURCE_DIR, "web", "package.json"))("playwright-core");
  const browser = await chromium.launch({ executablePath: process.env.NP_CHROMIUM || "/usr/bin/chromium", headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run"] });
  const server = await startServer({ pkgDir: DIST, modelsDir: dir, isolated: true });
  try {
    const page = await browser.newPage();
    await page.goto(`${server.origin}/blank.html`);
    const out = await page.evaluate(async ({ train, testSet, recipe }) => {
      const np = await import("/pkg/browser.js");
      const key = (calls) => calls.map((c) => JSON.stringify([c.name, Object.entries(c.arguments).sort()])).sort().join("|");
      const em = async (tc) => {
        let hits = 0;
        for (const ex of testSet) if (key((await tc.call(ex.query, ex.tools)).calls) === key(ex.answers)) hits++;
        return hits / testSet.length;
      };
      const tc = await np.createToolCaller({ model: "/models/base.gguf", cache: false, threads: 2 });
      const ac = new AbortController();
      let n = 0;
      let cancelled = null;
      try {
        await tc.finetune({ ...recipe, examples: train, signal: ac.signal, onProgress: () => { if (++n === 2) ac.abort(); } });
      } catch (e) { cancelled = e.name; }
      const stillWorks = (await tc.call(testSet[0].query, testSet[0].tools)).valid;
      const progress = [];
      const r = await tc.finetune({ ...recipe, examples: train, onProgress: (p) => progress.push(p.step) });
      const before = await em(tc);
      const tuned = await np.createToolCaller({ model: r.model, cache: false, threads: 2 });
      const after = await em(tuned);
      await tuned.dispose();
      await tc.dispose();
      return { inWorker: tc.inWorker, build: tc.build, cancelled, stillWorks, before, after, steps: r.steps,
               progress: progress.length, seconds: r.seconds, eps: r.examplesPerSecond };
    }, { train: NEW_TRAIN, testSet: NEW_TEST, recipe: RECIPE });
    console.log(`# Chromium ${out.build} in the Worker: ${out.before.toFixed(2)} -> ${out.after.toFixed(2)}, ` +
                `${out.seconds.toFixed(1)} s, ${out.eps.toFixed(1)} examples/s`);
    assert.equal(out.inWorker, true);
    assert.equal(out.build, "mt");
    assert.equal(out.cancelled, "AbortError");
    assert.equal(out.stillWorks, true);
    assert.equal(out.steps, 600);
    assert.ok(out.progress >= 3);
    assert.ok(out.after >= out.before + 0.5, `exact match ${out.before} -> ${out.after}`);
  } finally {
    await browser.close();
    await server.close();
  }
});
