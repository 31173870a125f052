// edge.test.mjs — the edge build inside the real workerd runtime (npm "workerd"): a worker
// that imports "needlepoint" (resolved through the "workerd" exports condition and bundled
// by esbuild, .wasm kept as an imported WebAssembly.Module), served on 127.0.0.1, answering
// tool calls over HTTP with the native CLI's answers; bad tools come back as typed codes.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { TOOLS, CASES, makeModels, makeTempDir, nativeRun, comparable } from "./common.mjs";
import { startWorkerd } from "./workerd.mjs";

const dir = makeTempDir("np-edge-");
let models, server, url;

before(async () => {
  models = makeModels(dir);
  server = await startWorkerd(dir, models.small_f32);
  url = server.url;
});

after(() => { server?.close(); });

async function post(body) {
  const r = await fetch(url, { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } });
  return { status: r.status, body: await r.json() };
}

test("workerd runs the edge build, single thread", async () => {
  const r = await fetch(url);
  const info = await r.json();
  assert.equal(r.status, 200, JSON.stringify(info) + server.log());
  assert.equal(info.build, "edge");
  assert.equal(info.threads, 1);
  assert.equal(info.model.dModel, 64);
  assert.equal(info.memory.limitBytes, 112 * 1048576, "the edge build's default memory bound");
  assert.ok(info.memory.usedBytes > info.model.fileBytes && info.memory.usedBytes < info.memory.limitBytes);
});

test("a memory limit the model does not fit is OUT_OF_MEMORY, and the isolate keeps serving", async () => {
  const tooSmall = await (await fetch(`${url}?limit=${1 << 20}`)).json();
  assert.equal(tooSmall.error?.code, "OUT_OF_MEMORY", JSON.stringify(tooSmall));
  const enough = await (await fetch(`${url}?limit=${64 << 20}`)).json();
  assert.equal(enough.loaded, true, JSON.stringify(enough));
  assert.equal(enough.memory.limitBytes, 64 << 20);
  const { status } = await post({ query: CASES[0][1], tools: TOOLS[CASES[0][2]] });
  assert.equal(status, 200);
});

test("tool calls over HTTP: the native CLI's answers", async () => {
  for (const [name, query, tools, opts] of CASES) {
    const { status, body } = await post({ query, tools: TOOLS[tools], ...opts });
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.build, "edge");
    assert.deepEqual(comparable(body), comparable(null, nativeRun(models.small_f32, query, TOOLS[tools], opts, dir)), name);
  }
});

test("bad tools and an empty query come back as typed codes", async () => {
  const bad = await post({ query: "hi", tools: "[{" });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.code, "INVALID_TOOLS");
  assert.equal(bad.body.error.name, "InvalidToolsError");
  const empty = await post({ query: "", tools: TOOLS.flat });
  assert.equal(empty.body.error.code, "INVALID_INPUT");
});
