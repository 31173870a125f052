// bench_ort.mjs — our engine against onnxruntime-web (its WASM backend, in Node) and PyTorch
// (CPU, fp32) on the same model and the same encoder ids, side by side in one run
// (docs/benchmarks.md, "Against onnxruntime-web and PyTorch"). Not a test; run by hand:
//
//   sh tools/bench/onnx/setup.sh                      # once: the pinned onnxruntime-web
//   nice -n 10 node tools/bench/onnx/bench_ort.mjs [--model models/needlepoint-default.gguf]
//        [--onnx DIR] [--n 9] [--max-tokens 20] [--rounds 1] [--ort-threads 1,2]
//        [--torch-threads 1,2] [--no-torch] [--no-native] [--dist npm/dist] [--cli PATH]
//
// The prompt is tools/bench/bench_inference.mjs's: "What's the weather in San Francisco?" with
// data/examples/tools.json. The encoder ids come from OUR tokenizer (the engine's tokenize() of
// the query, the <tools> id, and tokenize() of the normalised tools JSON from
// `needlepoint normalize-tools`), checked against the engine's own input count, and every
// engine gets exactly those ids. Every engine decodes greedily (argmax, no grammar) from EOS to
// EOS or --max-tokens generated tokens; ours with `constrained: false, maxTokens`. The
// generated ids of every engine are compared with ours (they should be identical).
//
// Rows (median of N warm calls after 2 warm-ups, each split into encoder and decode time):
//   ours: Node st (1 thread) and mt (2 threads) from npm/dist, and the native CLI (2 threads,
//         its own timings) unless --no-native;
//   onnxruntime-web: one child process per numThreads (ort initialises its WASM once per
//         process), sessions on DIR/encoder.onnx and DIR/decoder_step.onnx
//         (tools/bench/onnx/export_onnx.py; exported first when DIR is missing), verified
//         against PyTorch's reference numbers before it is timed;
//   torch: tools/bench/onnx/bench_torch.py, fp32, OMP_WAIT_POLICY=PASSIVE, per thread count.
// Each row records the 1-minute load average when it started. --json F writes everything.
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { tmpdir } from "node:os";
import { fileURLToPath, pathToFileURL } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, "..", "..", "..");
const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const flag = (name) => args.includes(name);
const N = Number(opt("--n", "9")), WARM = 2;
const MAX_TOKENS = Number(opt("--max-tokens", "20"));
const EOS = 1, TOOLS_ID = 5;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const load1 = () => Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]);
const threadsOfProcess = () => readdirSync("/proc/self/task").length;

// ---------------------------------------------------------------- onnxruntime-web (child)
async function ortWorker() {
  const threads = Number(opt("--threads", "1"));
  const dir = resolve(opt("--onnx"));
  const ids = JSON.parse(readFileSync(opt("--ids"), "utf8"));
  const ort = await import("onnxruntime-web");
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.simd = true;
  ort.env.logLevel = "error";
  const threadsBefore = threadsOfProcess();
  const so = { executionProviders: ["wasm"], graphOptimizationLevel: "all" };
  const enc = await ort.InferenceSession.create(join(dir, "encoder.onnx"), so);
  const dec = await ort.InferenceSession.create(join(dir, "decoder_step.onnx"), so);
  const ref = JSON.parse(readFileSync(join(dir, "ref.json"), "utf8"));
  const L = ref.n_dec_layers, NKV = ref.n_kv_heads, HS = ref.head_dim;
  const i64 = (xs, dims) => new ort.Tensor("int64", BigInt64Array.from(xs.map(BigInt)), dims);
  const empty = () => new ort.Tensor("float32", new Float32Array(0), [1, NKV, 0, HS]);
  const argmax = (a) => {
    let b = 0;
    for (let i = 1; i < a.length; i++) if (a[i] > a[b]) b = i;
    return b;
  };
  // One greedy call: encoder, then decoder steps from EOS; forced: a token list to feed
  // instead of the argmax (the check); returns times, tokens and every step's logits if asked.
  async function greedy(encIds, maxTokens, { forced = null, keep = false } = {}) {
    const t0 = performance.now();
    const eo = await enc.run({ ids: i64(encIds, [1, encIds.length]) });
    const t1 = performance.now();
    const feeds = {};
    for (let i = 0; i < L; i++) {
      feeds[`cross_k_${i}`] = eo[`cross_k_${i}`];
      feeds[`cross_v_${i}`] = eo[`cross_v_${i}`];
      feeds[`past_k_${i}`] = empty();
      feeds[`past_v_${i}`] = empty();
    }
    let tok = EOS, steps = 0;
    const out = [], logits = [];
    while (out.length < maxTokens) {
      feeds.token = i64([tok], [1, 1]);
      feeds.pos = i64([steps], [1]);
      const r = await dec.run(feeds);
      steps++;
      for (let i = 0; i < L; i++) {
        feeds[`past_k_${i}`] = r[`present_k_${i}`];
        feeds[`past_v_${i}`] = r[`present_v_${i}`];
      }
      const lg = r.logits.data;
      if (keep) logits.push(Float32Array.from(lg));
      tok = forced ? forced[steps - 1] : argmax(lg);
      if (forced ? steps >= forced.length : tok === EOS) break;
      out.push(tok);
    }
    const t2 = performance.now();
    return { total: t2 - t0, encode: t1 - t0, decode: t2 - t1, steps, tokens: out, encOut: eo.enc_out.data, logits };
  }

  // Verify against PyTorch's reference (export_onnx.py): encoder output and every checked
  // step's logits, within 1e-3 of the reference's largest magnitude.
  const f32 = (name) => {
    const b = readFileSync(join(dir, name));
    return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
  };
  const rel = (a, b) => {
    let d = 0, m = 0;
    for (let i = 0; i < b.length; i++) {
      d = Math.max(d, Math.abs(a[i] - b[i]));
      m = Math.max(m, Math.abs(b[i]));
    }
    return d / m;
  };
  const chk = await greedy(ref.ids, ref.steps, { forced: ref.dec_tokens, keep: true });
  const refEnc = f32("ref_enc_out.f32"), refLogits = f32("ref_logits.f32"), V = ref.vocab;
  const encRel = rel(chk.encOut, refEnc);
  let logitRel = 0;
  for (let t = 0; t < ref.steps; t++) logitRel = Math.max(logitRel, rel(chk.logits[t], refLogits.subarray(t * V, (t + 1) * V)));
  const verify = { encoder_rel: encRel, logits_rel: logitRel, steps: ref.steps };
  if (!(encRel <= 1e-3 && logitRel <= 1e-3) || chk.encOut.length !== refEnc.length) {
    console.error(`bench_ort.mjs: FAIL: onnxruntime-web differs from PyTorch: encoder ${encRel}, logits ${logitRel} (relative to max |ref|)`);
    process.exit(3);
  }

  const samples = [];
  let tokens = [], cpu0 = null, w0 = 0;
  for (let i = 0; i < WARM + N; i++) {
    if (i === WARM) [cpu0, w0] = [process.cpuUsage(), performance.now()];
    const r = await greedy(ids, MAX_TOKENS);
    tokens = r.tokens;
    if (i >= WARM) samples.push({ total: r.total, encode: r.encode, decode: r.decode, steps: r.steps });
  }
  const c = process.cpuUsage(cpu0), cpuPerWall = (c.user + c.system) / 1000 / (performance.now() - w0);
  const threadsAfter = threadsOfProcess();
  console.log(JSON.stringify({ engine: "ort", threads, numThreadsAfterInit: ort.env.wasm.numThreads,
    osThreads: { beforeInit: threadsBefore, afterRuns: threadsAfter }, ortVersion: ort.env.versions?.web ?? ort.env.versions,
    verify, tokens, samples, cpuPerWall }));
  await enc.release();
  await dec.release();
  process.exit(0);
}

// ---------------------------------------------------------------- driver
function summarize(name, r, refTokens) {
  const m = (k) => median(r.samples.map((s) => s[k]));
  const steps = median(r.samples.map((s) => s.steps));
  const same = refTokens ? JSON.stringify(r.tokens) === JSON.stringify(refTokens) : null;
  return { name, load: r.load, total: m("total"), encode: m("encode"), decode: m("decode"), steps,
    perStep: m("decode") / steps, tokens: r.tokens.length, sameTokensAsOurs: same, cpuPerWall: r.cpuPerWall ?? null,
    extra: r.extra ?? {} };
}

async function driver() {
  const MODEL = resolve(opt("--model", join(ROOT, "models", "needlepoint-default.gguf")));
  const DIST = resolve(opt("--dist", join(ROOT, "npm", "dist")));
  const ONNX = resolve(opt("--onnx", join(HERE, "out", basename(MODEL).replace(/\.gguf$/, ""))));
  const ortThreads = opt("--ort-threads", "1,2").split(",").map(Number);
  const torchThreads = flag("--no-torch") ? [] : opt("--torch-threads", "1,2").split(",").map(Number);
  const rounds = Number(opt("--rounds", "1"));
  const tmp = mkdtempSync(join(tmpdir(), "np-bench-ort-"));
  // A private copy of the CLI, so that a rebuild of build/ during the run changes nothing.
  const CLI = join(tmp, "needlepoint");
  copyFileSync(resolve(opt("--cli", join(ROOT, "build", "needlepoint"))), CLI);
  execFileSync("chmod", ["+x", CLI]);
  const QUERY = "What's the weather in San Francisco?";
  const toolsFile = join(ROOT, "data", "examples", "tools.json");
  const TOOLS = JSON.parse(readFileSync(toolsFile, "utf8"));

  if (!existsSync(join(ONNX, "decoder_step.onnx"))) {
    console.log(`exporting ${MODEL} to ${ONNX}`);
    execFileSync("/usr/bin/python3", [join(HERE, "export_onnx.py"), "--model", MODEL, "--out", ONNX], { stdio: "inherit" });
  }

  // The encoder ids, from our tokenizer.
  const np = await import(pathToFileURL(join(DIST, "node.js")).href);
  const st = await np.createToolCaller({ model: MODEL, build: "st" });
  const normTools = execFileSync(CLI, ["normalize-tools", "--tools", "@" + toolsFile], { encoding: "utf8" }).trim();
  const ids = [...(await st.tokenize(QUERY)), TOOLS_ID, ...(await st.tokenize(normTools))];
  const callOpts = { constrained: false, maxTokens: MAX_TOKENS, preselectAbove: -1 };
  const ourTokens = [];
  const probe = await st.call(QUERY, TOOLS, { ...callOpts, onToken: (t) => ourTokens.push(t.id) });
  if (probe.tokens.input !== ids.length) throw new Error(`our engine saw ${probe.tokens.input} encoder ids, the bench built ${ids.length}`);
  await st.dispose();
  const idsFile = join(tmp, "ids.json");
  writeFileSync(idsFile, JSON.stringify(ids));
  const eosSeen = ourTokens.length < MAX_TOKENS;
  const header = { model: MODEL, onnx: ONNX, dist: DIST, encoderIds: ids.length, ourTokens, eosSeen,
    node: process.version, date: new Date().toISOString(), n: N, warm: WARM, maxTokens: MAX_TOKENS };
  console.log(`model ${MODEL}\nonnx ${ONNX}\n${ids.length} encoder ids; ours generates ${ourTokens.length} tokens${eosSeen ? " then EOS" : " (cap)"}; median of ${N} warm calls after ${WARM}`);

  const rows = [];
  const print = (s) => {
    const f = (v) => v.toFixed(2).padStart(8);
    console.log(`${s.name.padEnd(34)} load ${String(s.load).padStart(5)}  call ${f(s.total)} ms  encoder ${f(s.encode)} ms  decode ${f(s.decode)} ms = ${s.steps} steps x ${s.perStep.toFixed(3)} ms` +
      (s.cpuPerWall != null ? `  cpu/wall ${s.cpuPerWall.toFixed(2)}` : "") +
      (s.sameTokensAsOurs === false ? "  [TOKENS DIFFER FROM OURS]" : ""));
    rows.push(s);
  };

  for (let round = 0; round < rounds; round++) {
    if (rounds > 1) console.log(`-- round ${round + 1}`);
    // Ours in Node (npm/dist): st and mt.
    for (const [build, threads] of [["st", 1], ["mt", 1], ["mt", 2]]) {
      const load = load1();
      const tc = await np.createToolCaller({ model: MODEL, build, threads });
      const samples = [];
      let tokens = [], cpu0 = null, w0 = 0;
      for (let i = 0; i < WARM + N; i++) {
        if (i === WARM) [cpu0, w0] = [process.cpuUsage(), performance.now()];
        const t0 = performance.now();
        const r = await tc.call(QUERY, TOOLS, callOpts);
        const total = performance.now() - t0;
        // Decoder steps: one per generated token, plus the step that produced EOS.
        const steps = r.tokens.output + (r.tokens.output < MAX_TOKENS ? 1 : 0);
        tokens = r.tokens.output;
        if (i >= WARM) samples.push({ total, encode: r.timings.encodeMs, decode: r.timings.decodeMs, steps });
      }
      print(summarize(`ours Node ${build} (${tc.threads} thread${tc.threads > 1 ? "s" : ""})`,
        { load, samples, tokens: ourTokens.slice(0, tokens), cpuPerWall: (({ user, system }) => (user + system) / 1000)(process.cpuUsage(cpu0)) / (performance.now() - w0) }, ourTokens));
      await tc.dispose();
    }
    if (!flag("--no-native")) {
      for (const threads of [1, 2]) {
        const load = load1();
        const samples = [];
        for (let i = 0; i < WARM + N; i++) {
          const r = JSON.parse(execFileSync(CLI, ["run", "--model", MODEL, "--query", QUERY, "--tools", "@" + toolsFile,
            "--no-constrain", "--max-tokens", String(MAX_TOKENS), "--preselect-above", "-1", "--threads", String(threads)], { encoding: "utf8" }));
          const steps = r.tokens.output + (r.tokens.output < MAX_TOKENS ? 1 : 0);
          if (i >= WARM) samples.push({ total: r.timings.encode_ms + r.timings.decode_ms, encode: r.timings.encode_ms, decode: r.timings.decode_ms, steps });
        }
        print(summarize(`ours native CLI (${threads} thread${threads > 1 ? "s" : ""})`, { load, samples, tokens: ourTokens }, ourTokens));
      }
    }
    // onnxruntime-web, one process per thread count.
    for (const threads of ortThreads) {
      const load = load1();
      const p = spawnSync(process.execPath, [fileURLToPath(import.meta.url), "--worker", "--threads", String(threads),
        "--onnx", ONNX, "--ids", idsFile, "--n", String(N), "--max-tokens", String(MAX_TOKENS)], { encoding: "utf8", cwd: HERE });
      if (p.status !== 0) throw new Error(`onnxruntime-web worker failed (${p.status}):\n${p.stderr}`);
      const r = JSON.parse(p.stdout.trim().split("\n").pop());
      const warn = p.stderr.trim();
      const s = summarize(`onnxruntime-web ${r.ortVersion} (numThreads ${threads})`, { load, ...r,
        extra: { numThreadsAfterInit: r.numThreadsAfterInit, osThreads: r.osThreads, verify: r.verify, stderr: warn } }, ourTokens);
      print(s);
      console.log(`   verified against PyTorch: encoder ${r.verify.encoder_rel.toExponential(2)}, logits ${r.verify.logits_rel.toExponential(2)} (max |diff| / max |ref|); ` +
        `env.wasm.numThreads after init ${r.numThreadsAfterInit}; OS threads in the process ${r.osThreads.beforeInit} before init, ${r.osThreads.afterRuns} after${warn ? `; stderr: ${warn.split("\n")[0]}` : ""}`);
    }
    // PyTorch, fp32, per thread count.
    for (const threads of torchThreads) {
      const load = load1();
      const p = spawnSync("/usr/bin/python3", [join(HERE, "bench_torch.py"), "--model", MODEL, "--ids", idsFile,
        "--threads", String(threads), "--n", String(N), "--max-tokens", String(MAX_TOKENS)],
        { encoding: "utf8", env: { ...process.env, OMP_WAIT_POLICY: "PASSIVE", OMP_NUM_THREADS: String(threads) } });
      if (p.status !== 0) throw new Error(`bench_torch.py failed (${p.status}):\n${p.stderr}`);
      const r = JSON.parse(p.stdout.trim().split("\n").pop());
      print(summarize(`PyTorch ${r.torch} fp32 (${threads} thread${threads > 1 ? "s" : ""})`, { load, ...r }, ourTokens));
    }
  }
  const jsonOut = opt("--json");
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ ...header, rows }, null, 1));
}

if (flag("--worker")) await ortWorker();
else await driver();
