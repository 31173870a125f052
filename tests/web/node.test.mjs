// node.test.mjs — the JS API end to end in Node on the mt and st builds (npm/dist/node.js):
// the same answers as the native CLI, token for token, on fixed (query, tools) cases;
// tokenizer agreement; typed errors for bad tools, bad model bytes, abort, dispose.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { createHash } from "node:crypto";
import { startServer } from "./server.mjs";
import { CASES, TOOLS, DIST, makeModels, makeTempDir, nativeRun, nativeTokenize, comparable, readBytes } from "./common.mjs";

const np = await import(pathToFileURL(join(DIST, "node.js")).href);
const dir = makeTempDir();
const models = makeModels(dir);

const TOKENIZE_LINES = ["hello world", "Turn on the kitchen lights", "Météo à São Paulo, 東京 ☀️", "  two  spaces", "a\tb"];

for (const build of ["mt", "st"]) {
  describe(`build ${build}`, () => {
    const engines = {};
    before(async () => {
      for (const [name, path] of Object.entries(models)) {
        engines[name] = await np.createToolCaller({ model: path, build, threads: build === "mt" ? 2 : undefined });
      }
    });
    after(async () => { for (const e of Object.values(engines)) await e.dispose(); });

    test("reports its build and threads", () => {
      const e = engines.small_f32;
      assert.equal(e.build, build);
      assert.equal(e.threads, build === "mt" ? 2 : 1);
      assert.equal(e.inWorker, false);
      assert.equal(e.model.dModel, 64);
    });

    for (const modelName of Object.keys(models)) {
      for (const [name, query, toolsKey, opts] of CASES) {
        test(`${modelName} ${name}: same answer as the native CLI`, async () => {
          const tokens = [];
          const r = await engines[modelName].call(query, TOOLS[toolsKey], { ...opts, onToken: (t) => tokens.push(t) });
          const native = nativeRun(models[modelName], query, TOOLS[toolsKey], opts, dir);
          assert.deepEqual(comparable(r), comparable(null, native));
          assert.equal(r.outputIds.length, native.tokens.output);
          assert.deepEqual(tokens.map((t) => t.id), r.outputIds);
          assert.deepEqual(tokens.map((t) => t.index), r.outputIds.map((_, i) => i));
          assert.equal(r.build, build);
          assert.ok(r.timings.totalMs > 0 && r.timings.wallMs >= r.timings.totalMs * 0.5);
          // The decoder steps are part of the decode (each step timed inside it).
          assert.ok(r.timings.stepsMs > 0 && r.timings.stepsMs <= r.timings.decodeMs, JSON.stringify(r.timings));
        });
      }
      test(`${modelName}: tokenize matches the native tokenizer`, async () => {
        const expected = nativeTokenize(models[modelName], TOKENIZE_LINES);
        for (let i = 0; i < TOKENIZE_LINES.length; i++) {
          assert.deepEqual(await engines[modelName].tokenize(TOKENIZE_LINES[i]), expected[i], TOKENIZE_LINES[i]);
        }
      });
    }

    test("tools as JSON text give the same answer as objects", async () => {
      const a = await engines.small_f32.call("Set a timer", TOOLS.mixed);
      const b = await engines.small_f32.call("Set a timer", JSON.stringify(TOOLS.mixed));
      assert.deepEqual(comparable(a), comparable(b));
    });

    test("bad tools: InvalidToolsError", async () => {
      const e = engines.small_f32;
      for (const bad of ["[{bad json", 42, null, '[{"description":"no name"}]', [{ name: "" }]]) {
        await assert.rejects(e.call("hi", bad), (err) => err instanceof np.InvalidToolsError && err.code === "INVALID_TOOLS",
                             JSON.stringify(bad));
      }
    });

    test("empty query: InvalidInputError", async () => {
      await assert.rejects(engines.small_f32.call("", TOOLS.flat), (err) => err instanceof np.InvalidInputError && err.code === "INVALID_INPUT");
    });

    test("bad model bytes: ModelFormatError with the core's code", async () => {
      const good = readBytes(models.small_f32);
      const cases = [
        [new Uint8Array(1000).fill(7), "BAD_MAGIC"],
        [good.slice(0, 4000), "TRUNCATED"],
        [good.slice(0, 20), "TRUNCATED"],
      ];
      for (const [bytes, code] of cases) {
        await assert.rejects(np.createToolCaller({ model: bytes, build }),
                             (err) => err instanceof np.ModelFormatError && err.code === code, code);
      }
      const notNeedle = join(dir, "empty.gguf");
      writeFileSync(notNeedle, new Uint8Array(0));
      await assert.rejects(np.createToolCaller({ model: notNeedle, build }), (err) => err instanceof np.NeedlepointError);
      await assert.rejects(np.createToolCaller({ model: join(dir, "missing.gguf"), build }),
                           (err) => err instanceof np.ModelFetchError && err.code === "MODEL_FETCH");
    });

    test("model from bytes equals model from a file", async () => {
      const e = await np.createToolCaller({ model: readBytes(models.small_f32), build, threads: 1 });
      try {
        const [q, t, o] = CASES[6].slice(1);
        const a = await e.call(q, TOOLS[t], o);
        const b = await engines.small_f32.call(q, TOOLS[t], o);
        assert.deepEqual(comparable(a), comparable(b));
      } finally {
        await e.dispose();
      }
    });

    test("abort: from onToken mid-call, before the call, and during creation", async () => {
      const e = engines.small_f32;
      const ac = new AbortController();
      let seen = 0;
      await assert.rejects(
        e.call("What's the weather?", TOOLS.flat, { constrained: false, maxTokens: 50, signal: ac.signal,
          onToken: () => { if (++seen === 3) ac.abort(); } }),
        (err) => err instanceof np.AbortError && err.code === "ABORTED");
      assert.equal(seen, 3);
      await assert.rejects(e.call("x", TOOLS.flat, { signal: AbortSignal.abort() }), np.AbortError);
      await assert.rejects(np.createToolCaller({ model: models.small_f32, build, signal: AbortSignal.abort() }), np.AbortError);
      // The engine still works afterwards.
      const r = await e.call("What's the weather in Paris?", TOOLS.flat);
      assert.equal(r.valid, true);
    });

    test("an onToken callback that throws rejects the call with its error", async () => {
      const boom = new Error("boom");
      await assert.rejects(engines.small_f32.call("hi", TOOLS.flat, { constrained: false, maxTokens: 5, onToken: () => { throw boom; } }),
                           (err) => err === boom);
    });

    test("catalog model: a repeated tool list is reused (hit) and answers as a fresh encoding does", async () => {
      const e = engines.small_catalog;
      assert.equal(e.model.encoderMask, "catalog");
      assert.equal(engines.small_f32.model.encoderMask, "bidirectional");
      const off = await np.createToolCaller({ model: models.small_catalog, build, catalogCacheBytes: 0 });
      try {
        const queries = ["Turn on the kitchen lights", "What's the weather in Paris?", "Set a timer for 5 minutes"];
        const seen = [];
        for (const q of queries) {
          const r = await e.call(q, TOOLS.mixed);
          seen.push(r.catalog);
          const fresh = await off.call(q, TOOLS.mixed);
          assert.equal(fresh.catalog, "off");
          assert.deepEqual(comparable(r), comparable(fresh), q);
          assert.deepEqual(r.outputIds, fresh.outputIds, q);
        }
        // the first query may find the list already cached by the cases above
        assert.deepEqual(seen.slice(1), ["hit", "hit"]);
        // prepareTools: a new list encoded ahead of its first call (short enough that no query
        // cuts it: a list cut by the query's length is another block)
        const list = [{ name: "ping", description: "Ping a host.", parameters: { host: { type: "string", required: true } } }];
        const p = await e.prepareTools(list);
        assert.equal(p.catalog, "miss");
        assert.ok(p.blockTokens > 10);
        assert.equal((await e.call("Turn on the kitchen lights", list)).catalog, "hit");
        assert.equal((await off.prepareTools(list)).catalog, "off");
        assert.deepEqual(await engines.small_f32.prepareTools(list), { blockTokens: 0, catalog: "none" });
        await assert.rejects(e.prepareTools("[{bad"), (err) => err instanceof np.InvalidToolsError);
        assert.equal((await e.call("hi", TOOLS.flat)).catalog === "none", false);
        assert.equal((await engines.small_f32.call("hi", TOOLS.flat)).catalog, "none");
      } finally {
        await off.dispose();
      }
      await assert.rejects(np.createToolCaller({ model: models.small_catalog, build, catalogCacheBytes: -1 }), np.InvalidInputError);
    });

    test("dispose: later calls reject with DisposedError; dispose twice is fine", async () => {
      const e = await np.createToolCaller({ model: models.small_f32, build });
      await e.dispose();
      await e.dispose();
      await assert.rejects(e.call("hi", TOOLS.flat), (err) => err instanceof np.DisposedError && err.code === "DISPOSED");
      await assert.rejects(e.tokenize("hi"), np.DisposedError);
    });
  });
}

test("mt: the answer does not depend on the thread count", async () => {
  const [q, t, o] = CASES[7].slice(1);
  const results = [];
  for (const threads of [1, 3]) {
    const e = await np.createToolCaller({ model: models.small_q8_ffn, build: "mt", threads });
    try {
      assert.equal(e.threads, threads);
      results.push(comparable(await e.call(q, TOOLS[t], o)));
    } finally {
      await e.dispose();
    }
  }
  assert.deepEqual(results[0], results[1]);
});

test("create/dispose leaves no process-wide listeners behind", async () => {
  const count = () => ["uncaughtException", "unhandledRejection", "exit"].map((e) => process.listenerCount(e));
  for (const build of ["st", "mt"]) {
    const warm = await np.createToolCaller({ model: models.small_f32, build });  // first load of the build
    await warm.dispose();
    const before = count();
    for (let i = 0; i < 3; i++) {
      const e = await np.createToolCaller({ model: models.small_f32, build });
      await e.call("hi", TOOLS.flat);
      await e.dispose();
    }
    assert.deepEqual(count(), before, build);
  }
});

test("bad options: InvalidInputError", async () => {
  await assert.rejects(np.createToolCaller({ model: models.small_f32, threads: 0 }), np.InvalidInputError);
  await assert.rejects(np.createToolCaller({ model: 12 }), np.InvalidInputError);
  await assert.rejects(np.createToolCaller({ model: models.small_f32, build: "edge" }), np.InvalidInputError);
});

test("an option the API does not have is refused, naming the one meant", async () => {
  const named = (key, meant) => (err) => err instanceof np.InvalidInputError && err.message.includes(`"${key}"`) &&
    (meant ? err.message.includes(`did you mean "${meant}"`) : !err.message.includes("did you mean"));
  await assert.rejects(np.createToolCaller({ modle: models.small_f32 }), named("modle", "model"));
  await assert.rejects(np.createToolCaller({ model: models.small_f32, Threads: 2 }), named("Threads", "threads"));
  await assert.rejects(np.createToolCaller({ model: models.small_f32, gpu: true }), named("gpu", ""));
  const tc = await np.createToolCaller({ model: models.small_f32, build: "st" });
  try {
    await assert.rejects(tc.call("weather in Paris", TOOLS.flat, { maxToken: 3 }), named("maxToken", "maxTokens"));
    await assert.rejects(tc.call("weather in Paris", TOOLS.flat, { fulllogits: true }), named("fulllogits", "fullLogits"));
    await assert.rejects(tc.call("weather in Paris", TOOLS.flat, "fast"), np.InvalidInputError);
    // the right spelling runs, and the engine is still usable after the refusals
    const r = await tc.call("weather in Paris", TOOLS.flat, { maxTokens: 3 });
    assert.ok(r.tokens.output <= 3);
  } finally {
    await tc.dispose();
  }
});

test("model from an HTTP URL: download progress, SHA-256 check, HTTP errors", async () => {
  const server = await startServer({ pkgDir: DIST, modelsDir: dir, isolated: false });
  try {
    const url = `${server.origin}/models/small-f32.gguf`;
    const sha256 = createHash("sha256").update(readBytes(models.small_f32)).digest("hex");
    const events = [];
    const e = await np.createToolCaller({ model: { url, sha256 }, build: "st", onProgress: (ev) => events.push(ev) });
    const downloads = events.filter((ev) => ev.status === "download");
    assert.ok(downloads.length > 0);
    assert.equal(downloads.at(-1).loaded, readBytes(models.small_f32).length);
    assert.equal(downloads.at(-1).total, downloads.at(-1).loaded);
    assert.equal(events.at(-1).status, "ready");
    const r = await e.call(CASES[0][1], TOOLS[CASES[0][2]]);
    assert.deepEqual(comparable(r), comparable(null, nativeRun(models.small_f32, CASES[0][1], TOOLS[CASES[0][2]], {}, dir)));
    await e.dispose();
    await assert.rejects(np.createToolCaller({ model: { url, sha256: "0".repeat(64) }, build: "st" }),
                         (err) => err instanceof np.IntegrityError && err.code === "INTEGRITY" && err.details.sha256 === sha256);
    await assert.rejects(np.createToolCaller({ model: `${server.origin}/models/nope.gguf`, build: "st" }),
                         (err) => err instanceof np.ModelFetchError && err.details.status === 404);
  } finally {
    await server.close();
  }
});

test("incremental SHA-256 equals node:crypto for every length and chunking around block edges", async () => {
  const { Sha256 } = await import(pathToFileURL(join(DIST, "sha256.js")).href);
  assert.equal(new Sha256().update(new TextEncoder().encode("abc")).digestHex(),
               "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const data = new Uint8Array(300).map((_, i) => (i * 131 + 7) & 255);
  for (const n of [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 300]) {
    const expected = createHash("sha256").update(data.subarray(0, n)).digest("hex");
    for (const step of [1, 7, 64, 1000]) {
      const h = new Sha256();
      for (let i = 0; i < n; i += step) h.update(data.subarray(i, Math.min(n, i + step)));
      assert.equal(h.digestHex(), expected, `n=${n} step=${step}`);
    }
  }
});
