// engine.ts — the ToolCaller that runs in the current thread over one Emscripten module
// instance. Entry points (browser.ts, node.ts, edge.ts, worker.ts) load the module and the
// model bytes; this file owns the Embind Engine object, turns tools into JSON text,
// streams token events and maps error codes to typed errors.
import { AbortError, DisposedError, InvalidInputError, InvalidToolsError, UnsupportedEnvironmentError, errorFromCode } from "./errors.js";
import { planFinetune } from "./finetune.js";
import { bytesStream, classifySource, loadModelFromUrl, writeModel } from "./model.js";
import type { NativeEngine, NativeInfo, NativeModule } from "./glue.js";
import { checkFallbackOptions, withFallback, type FallbackSettings } from "./fallback.js";
import type { Build, CallOptions, CallResult, CatalogStatus, PreparedTools, FinetuneMetrics, FinetuneOptions, FinetuneResult, MemoryStats, ModelInfo,
  ModelSource, RankedTool, Tool, ToolCaller } from "./types.js";

/** Internal extras: a stop check polled on every token (the Worker's shared abort flag). */
export interface InternalCallOptions extends CallOptions { shouldStop?: () => boolean }

/** Tools as the JSON text the core parses. @throws {InvalidToolsError} */
export function toolsToJson(tools: Tool[] | string | unknown): string {
  if (typeof tools === "string") return tools;
  if (tools === null || typeof tools !== "object") {
    throw new InvalidToolsError("tools must be an array of tool objects (or its JSON text)");
  }
  try {
    return JSON.stringify(tools);
  } catch (e) {
    throw new InvalidToolsError(`tools cannot be serialised to JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
}

export function modelInfoFrom(info: NativeInfo): ModelInfo {
  return { ...(info.config as NonNullable<NativeInfo["config"]>), fileBytes: info.fileBytes ?? 0 };
}

interface CoreResultJson {
  calls: { name: string; arguments: Record<string, unknown> }[];
  raw: string; valid: boolean; truncated: boolean; completed: boolean; stop_reason: string;
  dropped_calls: number; reason: string; repeated_calls: number;
  confidence: number; call_confidence: number[]; no_call_probability: number; preselected: string[];
  catalog: CatalogStatus;
  tokens: { input: number; output: number; forced: number; sparse: number };
  prior_overrides: number;
  timings: { tokenize_ms: number; retrieve_ms: number; encode_ms: number; decode_ms: number; steps_ms: number; total_ms: number };
}

/** The keys of CallOptions and CreateOptions (types.ts). A key outside them is a mistake (a
 * misspelt `maxToken` would otherwise be ignored and the call run with the default). */
export const CALL_OPTION_KEYS: readonly string[] = ["maxTokens", "constrained", "preselectAbove", "preselectK", "priors",
  "fullLogits", "fallback", "confidenceThreshold", "onToken", "signal"];
const INTERNAL_CALL_OPTION_KEYS: readonly string[] = [...CALL_OPTION_KEYS, "shouldStop"];
export const CREATE_OPTION_KEYS: readonly string[] = ["model", "threads", "build", "worker", "cache", "memoryLimit",
  "catalogCacheBytes", "onProgress", "signal", "fallback", "confidenceThreshold", "fallbackWhen"];

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length];
}

/** @throws {InvalidInputError} when `options` is not an object or holds a key outside `known`
 * (naming it, and the key meant where one is within 3 edits or differs only in case). */
export function checkOptionKeys(options: unknown, known: readonly string[], what: string): void {
  if (options === undefined) return;
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new InvalidInputError(`${what} must be an object`);
  }
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    let meant = "", best = 4;
    for (const k of known) {
      const d = k.toLowerCase() === key.toLowerCase() ? 0 : editDistance(key, k);
      if (d < best) { best = d; meant = k; }
    }
    throw new InvalidInputError(`${what}: unknown option "${key}"${meant ? `; did you mean "${meant}"?` : ""}`);
  }
}

/** A pre-selection option: an integer (-1 allowed for preselectAbove: never). */
function preselectOption(v: unknown, name: string, fallback: number, min: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > 1000) {
    throw new InvalidInputError(`${name} must be an integer from ${min} to 1000`);
  }
  return v;
}

/** Checks the call options that go to the engine; returns the pre-selection pair. */
export function preselectOptions(options: CallOptions): [number, number] {
  return [preselectOption(options.preselectAbove, "preselectAbove", 10, -1), preselectOption(options.preselectK, "preselectK", 8, 1)];
}

/** The decoding priors' weights for the engine: [toolName, toolCall, copy, echo], -1 for the
 * model's own, from CallOptions.priors (true or absent: the model's; false: all 0). */
export function priorWeights(options: CallOptions): [number, number, number, number] {
  const p = options.priors;
  if (p === undefined || p === true) return [-1, -1, -1, -1];
  if (p === false) return [0, 0, 0, 0];
  if (typeof p !== "object" || p === null || Array.isArray(p)) {
    throw new InvalidInputError("priors must be true, false or an object {toolName, toolCall, copy, echo}");
  }
  const weight = (v: unknown, name: string): number => {
    if (v === undefined) return -1;
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || v > 100) {
      throw new InvalidInputError(`priors.${name} must be a number from 0 to 100`);
    }
    return v;
  };
  for (const k of Object.keys(p)) {
    if (k !== "toolName" && k !== "toolCall" && k !== "copy" && k !== "echo") {
      throw new InvalidInputError(`priors.${k} is not a prior (toolName, toolCall, copy, echo)`);
    }
  }
  return [weight(p.toolName, "toolName"), weight(p.toolCall, "toolCall"), weight(p.copy, "copy"), weight(p.echo, "echo")];
}

export class InThreadEngine implements ToolCaller {
  readonly build: Build;
  readonly threads: number;
  readonly inWorker: boolean;
  model: ModelInfo;
  private mod: NativeModule | null;
  private native: NativeEngine | null;
  private busy = false;
  private settings: FallbackSettings;

  constructor(mod: NativeModule, native: NativeEngine, build: Build, info: NativeInfo, inWorker: boolean,
              settings: FallbackSettings = {}) {
    this.settings = settings;
    this.mod = mod;
    this.native = native;
    this.build = build;
    this.threads = mod.getThreads();
    this.inWorker = inWorker;
    this.model = modelInfoFrom(info);
  }

  async call(query: string, tools: Tool[] | string, options: InternalCallOptions = {}): Promise<CallResult> {
    const native = this.native;
    if (!native) throw new DisposedError();
    if (typeof query !== "string") throw new InvalidInputError("query must be a string");
    checkOptionKeys(options, INTERNAL_CALL_OPTION_KEYS, "call options");
    const toolsJson = toolsToJson(tools);
    const { signal, onToken, shouldStop } = options;
    if (signal?.aborted) throw new AbortError("the call was aborted before it started");
    const maxTokens = options.maxTokens ?? 0;
    if (!Number.isInteger(maxTokens) || maxTokens < 0) throw new InvalidInputError("maxTokens must be a non-negative integer");
    const [preselectAbove, preselectK] = preselectOptions(options);
    const [toolPriorName, toolPriorCall, copyPrior, echoPrior] = priorWeights(options);
    if (options.fullLogits !== undefined && typeof options.fullLogits !== "boolean")
      throw new InvalidInputError("fullLogits must be true or false");
    checkFallbackOptions(this.settings, options);
    if (this.busy) throw new InvalidInputError("a call is already running on this engine (calls are not reentrant)");
    const t0 = performance.now();
    let userError: unknown = null;
    let cb: ((id: number, bytes: Uint8Array) => boolean) | undefined;
    if (onToken || signal || shouldStop) {
      const decoder = new TextDecoder("utf-8");
      let index = 0;
      cb = (id, bytes) => {
        if (signal?.aborted || shouldStop?.()) return false;
        if (onToken) {
          try {
            onToken({ id, text: decoder.decode(bytes, { stream: true }), index: index++ });
          } catch (e) {
            userError = e;
            return false;
          }
        }
        return !signal?.aborted;
      };
    }
    this.busy = true;
    let r;
    try {
      const mode = (options.constrained !== false ? 1 : 0) | (options.fullLogits ? 2 : 0);
      r = native.call(query, toolsJson, maxTokens, mode, preselectAbove, preselectK,
                      toolPriorName, toolPriorCall, copyPrior, echoPrior, cb);
    } finally {
      this.busy = false;
    }
    if (!r.ok) {
      if (userError !== null) throw userError;
      if (r.code === "ABORTED") throw new AbortError("the call was aborted");
      throw errorFromCode(r.code ?? "INTERNAL", r.message ?? "call failed");
    }
    const j = JSON.parse(r.json as string) as CoreResultJson;
    const local: CallResult = {
      calls: j.calls,
      raw: j.raw,
      truncated: j.truncated,
      completed: j.completed,
      stopReason: j.stop_reason,
      valid: j.valid,
      droppedCalls: j.dropped_calls,
      reason: j.reason,
      repeatedCalls: j.repeated_calls,
      confidence: j.confidence,
      callConfidence: j.call_confidence,
      noCallProbability: j.no_call_probability,
      preselected: j.preselected,
      catalog: j.catalog,
      source: "local",
      tokens: { input: j.tokens.input, output: j.tokens.output, forced: j.tokens.forced, sparse: j.tokens.sparse },
      priorOverrides: j.prior_overrides,
      outputIds: Array.from(r.outputIds ?? []),
      timings: {
        tokenizeMs: j.timings.tokenize_ms, retrieveMs: j.timings.retrieve_ms, encodeMs: j.timings.encode_ms,
        decodeMs: j.timings.decode_ms, stepsMs: j.timings.steps_ms, totalMs: j.timings.total_ms,
        wallMs: performance.now() - t0,
      },
      build: this.build,
      threads: this.threads,
      inWorker: this.inWorker,
    };
    return withFallback(local, query, tools, this.settings, options);
  }

  async prepareTools(tools: Tool[] | string): Promise<PreparedTools> {
    if (!this.native) throw new DisposedError();
    if (this.busy) throw new InvalidInputError("a call is already running on this engine");
    const r = this.native.prepareTools(toolsToJson(tools));
    if (!r.ok) throw errorFromCode(r.code ?? "INTERNAL", r.message ?? "prepareTools failed");
    return { blockTokens: r.blockTokens as number, catalog: r.catalog as CatalogStatus };
  }

  async retrieve(query: string, tools: Tool[] | string, k?: number): Promise<RankedTool[]> {
    if (!this.native) throw new DisposedError();
    if (typeof query !== "string" || query === "") throw new InvalidInputError("query must be a non-empty string");
    if (k !== undefined && (!Number.isInteger(k) || k < 1)) throw new InvalidInputError("k must be a positive integer");
    const r = this.native.retrieve(query, toolsToJson(tools), k ?? 0);
    if (!r.ok) throw errorFromCode(r.code ?? "INTERNAL", r.message ?? "retrieve failed");
    return JSON.parse(r.json as string) as RankedTool[];
  }

  async finetune(options: FinetuneOptions): Promise<FinetuneResult> {
    const native = this.native;
    if (!native) throw new DisposedError();
    if (this.build === "edge") throw new UnsupportedEnvironmentError("NO_TRAINING", "the edge build does not train: fine-tune in a page, a Worker or Node");
    const plan = planFinetune(options);
    const { signal, onProgress } = options;
    if (signal?.aborted) throw new AbortError("fine-tuning was aborted before it started");
    if (this.busy) throw new InvalidInputError("a call is already running on this engine");
    this.busy = true;
    const t0 = performance.now();
    const check = <T extends { ok: boolean; code?: string; message?: string }>(r: T): T => {
      if (!r.ok) throw errorFromCode(r.code ?? "INTERNAL", r.message ?? "fine-tuning failed");
      return r;
    };
    const metrics = (tuned: boolean): FinetuneMetrics => {
      const j = JSON.parse(check(native.finetuneEvaluate(tuned)).json as string) as { exact_match: number; name_f1: number; examples: number };
      return { exactMatch: j.exact_match, nameF1: j.name_f1, examples: j.examples };
    };
    try {
      const started = check(native.finetuneStart(plan.jsonl, JSON.stringify(plan.config)));
      const steps = started.steps as number;
      const validationExamples = started.valExamples as number;
      const before = plan.evaluate && validationExamples > 0 ? metrics(false) : null;
      const losses: number[] = [];
      let trained = 0, chunk = 1, trainMs = 0;
      for (;;) {
        // Chunks of about 250 ms between turns of the event loop (abort, progress).
        const r = check(native.finetuneStep(chunk));
        trainMs += r.ms as number;
        const done = r.step as number;
        losses.push(r.loss as number);
        const n = done - trained;
        trained = done;
        const perStep = (r.ms as number) / Math.max(1, n);
        chunk = Math.max(1, Math.min(50, Math.round(250 / Math.max(perStep, 1))));
        const elapsed = (performance.now() - t0) / 1000;
        const eps = (trained * plan.config.batch) / Math.max(trainMs / 1000, 1e-9);
        onProgress?.({ step: done, steps, loss: r.loss as number, examplesPerSecond: eps, elapsedSeconds: elapsed,
                       etaSeconds: ((steps - done) * perStep) / 1000 });
        if (r.done) break;
        await new Promise((resolve) => setTimeout(resolve, 0));
        if (signal?.aborted) throw new AbortError("fine-tuning was aborted");
      }
      const after = plan.evaluate && validationExamples > 0 ? metrics(true) : null;
      const model = check(native.finetuneExport(plan.type)).bytes as Uint8Array;
      const seconds = (performance.now() - t0) / 1000;
      return { model, steps: trained, seconds, examplesPerSecond: (trained * plan.config.batch) / Math.max(trainMs / 1000, 1e-9),
               validationExamples, before, after, losses };
    } finally {
      native.finetuneEnd();
      this.busy = false;
    }
  }

  async loadModel(source: ModelSource): Promise<ModelInfo> {
    const native = this.native, mod = this.mod;
    if (!native || !mod) throw new DisposedError();
    if (this.busy) throw new InvalidInputError("a call is already running on this engine");
    const src = classifySource(source);
    const loaded = "bytes" in src
      ? await writeModel(mod, native, bytesStream(src.bytes))
      : await loadModelFromUrl(mod, native, src.url, src.sha256, { cache: true });
    this.model = modelInfoFrom(loaded.info);
    return this.model;
  }

  async modelBytes(): Promise<Uint8Array> {
    if (!this.native) throw new DisposedError();
    const r = this.native.modelBytes();
    if (!r.ok) throw errorFromCode(r.code ?? "INTERNAL", r.message ?? "no model");
    return r.bytes as Uint8Array;
  }

  async memory(): Promise<MemoryStats> {
    if (!this.mod) throw new DisposedError();
    const s = this.mod.memoryStats();
    return { heapBytes: s.heapBytes, usedBytes: s.usedBytes, peakBytes: s.peakBytes, limitBytes: s.limitBytes };
  }

  async tokenize(text: string): Promise<number[]> {
    if (!this.native) throw new DisposedError();
    if (typeof text !== "string") throw new InvalidInputError("text must be a string");
    const r = this.native.tokenize(text);
    if (!r.ok) throw errorFromCode(r.code ?? "INTERNAL", r.message ?? "tokenize failed");
    return Array.from(r.ids ?? []);
  }

  async dispose(): Promise<void> {
    const native = this.native, mod = this.mod;
    this.native = null;
    this.mod = null;
    if (native) {
      native.dispose();
      native.delete();
    }
    // Pthread workers keep Node alive and hold memory in pages: stop them.
    mod?.PThread?.terminateAllThreads();
  }
}
