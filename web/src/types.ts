// types.ts — the public types: options, results, events, tools. One ToolCaller interface
// is implemented in-thread (engine.ts) and behind a dedicated Worker (worker-proxy.ts).

/** Which WebAssembly build runs: threads + SIMD, single-thread SIMD, or the edge build. */
export type Build = "mt" | "st" | "edge";

/** A tool in any accepted shape: OpenAI ({type:"function", function:{...}}), Anthropic
 * ({name, description, input_schema}), JSON Schema ({name, parameters:{type:"object",...}})
 * or Needle's flat shape ({name, description, parameters:{p:{type, required}}}).
 * The C++ core normalises them (docs/tools.md). */
export type Tool = Record<string, unknown>;

/** Where the model comes from: a URL, the file's bytes, or (omitted) the bundled default. */
export type ModelSource = string | URL | ArrayBuffer | Uint8Array | { url: string | URL; sha256?: string };

/** WebAssembly memory of one engine, in bytes. */
export interface MemoryStats {
  /** The WebAssembly memory's size now (it grows, never shrinks). */
  heapBytes: number;
  /** Bytes the engine has allocated now (model file, weights, buffers). */
  usedBytes: number;
  /** The most the allocator has held at once so far. */
  peakBytes: number;
  /** The bound checked before a model is loaded (CreateOptions.memoryLimit or the build's maximum). */
  limitBytes: number;
}

/** Progress of createToolCaller, through a single callback; `status` tells which step. */
export type ProgressEvent =
  | { status: "wasm"; build: Build }
  | { status: "download"; loaded: number; total: number | null; url: string }
  | { status: "cache-hit"; url: string; sha256: string }
  | { status: "cached"; url: string; sha256: string }
  | { status: "cache-error"; message: string }
  | { status: "model"; bytes: number }
  | { status: "ready"; build: Build; threads: number; inWorker: boolean; ms: number };

export interface CreateOptions {
  /** Model URL, bytes, {url, sha256}, or omitted for the package's default model. */
  model?: ModelSource;
  /** Threads per call (mt only; capped at 8). Default: min(hardware threads, 4). */
  threads?: number;
  /** Force a build. Default: "mt" when cross-origin isolated (or in Node), else "st". */
  build?: Build;
  /** Pages only: run the engine in a dedicated Worker. Default: true for mt, false for st. */
  worker?: boolean;
  /** Cache downloaded models (Cache API, keyed by SHA-256). Default: true where available. */
  cache?: boolean;
  /** Bytes of WebAssembly memory the engine may allocate (model file + weights + one call at
   * a full context). A model that needs more is refused before loading with OutOfMemoryError.
   * Default: the build's maximum (2 GiB); the edge entry defaults to 112 MiB so a model too
   * big for a 128 MB isolate fails with an error instead of the isolate being killed. */
  memoryLimit?: number;
  /** Catalog-mask models (the default model): bytes of encoded tool lists kept across calls, so
   * a call with a list seen before encodes only its query (CallResult.catalog says "hit").
   * Counted in the memory a model needs. Default 16 MiB; 0 turns the cache off. */
  catalogCacheBytes?: number;
  onProgress?: (event: ProgressEvent) => void;
  signal?: AbortSignal;
  /** Default hand-off for every call (see CallOptions.fallback). */
  fallback?: Fallback;
  /** Default confidence threshold for the hand-off (0.5 when not set). */
  confidenceThreshold?: number;
  /** Decides the hand-off instead of the built-in rule (low confidence, dropped calls, a cut
   * input): return a reason to hand off, or null to keep the local answer. */
  fallbackWhen?: (result: CallResult, threshold: number) => HandoffReason | null;
}

/** One generated token, as decoded text (UTF-8 sequences split over tokens are joined). */
export interface TokenEvent { id: number; text: string; index: number }

export interface CallOptions {
  /** Generated-token budget (default: the model's decoder context - 1). */
  maxTokens?: number;
  /** Grammar-constrained decoding (default true). */
  constrained?: boolean;
  /** Tool pre-selection with the retrieval head: a list with more tools than this (or one
   * whose prompt does not fit the encoder context) is narrowed to the `preselectK` tools
   * closest to the query. Default 10; -1 never pre-selects. */
  preselectAbove?: number;
  /** Tools kept by pre-selection (default 8). */
  preselectK?: number;
  /** Decoding priors (docs/engine.md, "Decoding priors"): the lexical tool prior (`toolName`:
   * how much the words a tool shares with the query weigh where the model picks a tool name;
   * `toolCall`: how much they weigh against answering with no call), the copy prior
   * (`copy`: keeping string values whole-word pieces of the query) and the echo prior (`echo`:
   * how much a string value loses when its first word is one of the chosen tool's own words).
   * `true` or absent: the model's own tuned weights (0 when it has none); `false`: off, the
   * model's scores alone; an object: these weights, each 0-100 (one left out keeps the model's). */
  priors?: boolean | { toolName?: number; toolCall?: number; copy?: number; echo?: number };
  /** Compute every decoding step's logits over the whole vocabulary (docs/engine.md, "Sparse
   * logits"). Default false: where the grammar allows few tokens (JSON structure, names, keys,
   * enums, numbers) only theirs are computed, which is faster and gives the same answer; the
   * confidence then weighs each such choice among the allowed tokens only, which on tools the
   * model never saw ranks right and wrong answers a little less well. */
  fullLogits?: boolean;
  /** Hand-off: called when the local answer is not good enough (see `fallbackWhen`); its
   * calls become the result (`source: "fallback"`). Overrides CreateOptions.fallback. */
  fallback?: Fallback;
  /** Confidence under which the fallback answers (default: CreateOptions.confidenceThreshold, else 0.5). */
  confidenceThreshold?: number;
  onToken?: (token: TokenEvent) => void;
  signal?: AbortSignal;
}

/** Why a call was handed to the fallback. */
export type HandoffReason = "low-confidence" | "incomplete" | "truncated" | "custom";

export interface FallbackContext {
  reason: HandoffReason;
  /** The local answer that was not good enough. */
  local: CallResult;
  signal?: AbortSignal;
}

/** A hand-off target, e.g. a cloud LLM: returns the calls for the request. */
export type Fallback = (query: string, tools: Tool[] | string, context: FallbackContext) => Promise<FunctionCall[]>;

/** What happened when a call was handed off. */
export interface Handoff {
  reason: HandoffReason;
  /** The local model's calls and confidence. */
  localCalls: FunctionCall[];
  localConfidence: number;
  /** The fallback failed (e.g. offline): the local answer was kept. */
  error?: string;
}

/** One tool ranked by the retrieval head. */
export interface RankedTool {
  name: string;
  /** Index in the tool list given. */
  index: number;
  /** Cosine similarity to the query, in [-1, 1]. */
  score: number;
}

export interface FunctionCall { name: string; arguments: Record<string, unknown> }

export interface CallTimings {
  tokenizeMs: number; retrieveMs: number; encodeMs: number; decodeMs: number;
  /** The part of decodeMs spent in the model's decoder steps (the rest is decoding's own
   *  work: the answer grammar, the priors). */
  stepsMs: number;
  /** Inside the engine. */
  totalMs: number;
  /** As seen by the caller (includes the Worker round trip when there is one). */
  wallMs: number;
}

export interface CallResult {
  calls: FunctionCall[];
  /** The answer text the model wrote. */
  raw: string;
  /** The input did not fit the encoder context and was cut. */
  truncated: boolean;
  /** The token budget ran out and the grammar closed the JSON. */
  completed: boolean;
  stopReason: string;
  valid: boolean;
  /** Calls the model began but could not finish within the token budget: dropped, never
   * returned half-made (their arguments would be placeholders). */
  droppedCalls: number;
  /** Why calls were dropped ("" when none was). */
  reason: string;
  /** Calls dropped because they repeated an earlier call of the answer exactly, with a value
   * the request says only once ("focus in 100-minute sprints" is one session, not two);
   * `raw` still holds them. */
  repeatedCalls: number;
  /** How sure the model is of this answer, in [0, 1]: its probability for its weakest choice,
   * calibrated to the chance the answer is exactly right when the model carries a
   * calibration (docs/confidence.md). */
  confidence: number;
  /** The same per returned call. */
  callConfidence: number[];
  /** The probability the model gave to answering with no call (-1 when unconstrained). */
  noCallProbability: number;
  /** Tools offered after pre-selection, best first ([]: all were offered). */
  preselected: string[];
  /** Catalog-mask models: "hit" when the tool list's encoding was reused from an earlier call
   * (only the query was encoded), "miss" when it was encoded and kept for the next call, "off"
   * when it was not kept (CreateOptions.catalogCacheBytes 0, or the list too big); "none" for
   * bidirectional models (Needle v1), whose tool encoding depends on the query. */
  catalog: CatalogStatus;
  /** Who answered: the local model, or the fallback. */
  source: "local" | "fallback";
  /** Present when the call was handed off (or the hand-off failed). */
  handoff?: Handoff;
  /** Encoder tokens, generated tokens, how many of those jump-forward appended, and the decoding
   * steps that computed only the allowed tokens' logits (sparse steps; docs/engine.md). */
  tokens: { input: number; output: number; forced: number; sparse: number };
  /** Decoding steps where a prior (CallOptions.priors) chose another token than the model's
   * scores alone would have. */
  priorOverrides: number;
  outputIds: number[];
  timings: CallTimings;
  /** Which build ran, with how many threads, and whether in a Worker. */
  build: Build;
  threads: number;
  inWorker: boolean;
}

/** A training example: the request, the tools offered, the calls expected ([] = none). */
export interface TrainingExample {
  query: string;
  tools: Tool[] | string;
  answers: FunctionCall[] | string;
}

export interface FinetuneOptions {
  /** The examples (objects, or JSONL text in Needle's format). */
  examples: TrainingExample[] | string;
  /** Optimiser steps. Default: `epochs` passes over the training share, at least 100. */
  steps?: number;
  /** Passes over the training share when `steps` is not given (default 4). */
  epochs?: number;
  /** Examples per step (default 8). */
  batch?: number;
  /** Default 1e-2 with LoRA, 1e-3 without. */
  learningRate?: number;
  /** LoRA rank (default 8); 0 fine-tunes every weight. */
  loraRank?: number;
  loraAlpha?: number;
  /** Share of the examples held out (by content) to measure before/after (default 0.2; 0: none). */
  validationSplit?: number;
  seed?: number;
  /** Weight type of the returned model (default "q8_0"). */
  type?: "f32" | "f16" | "q8_0" | "q4_0";
  /** Measure exact match on the held-out share before and after (default true). */
  evaluate?: boolean;
  onProgress?: (progress: FinetuneProgress) => void;
  signal?: AbortSignal;
}

export interface FinetuneProgress {
  step: number;
  steps: number;
  /** Mean training loss of the last chunk of steps. */
  loss: number;
  examplesPerSecond: number;
  elapsedSeconds: number;
  etaSeconds: number;
}

export interface FinetuneMetrics {
  /** Share of held-out examples answered exactly right. */
  exactMatch: number;
  nameF1: number;
  examples: number;
}

export interface FinetuneResult {
  /** The tuned model as a GGUF file (LoRA merged): load it with createToolCaller({ model }). */
  model: Uint8Array;
  steps: number;
  seconds: number;
  examplesPerSecond: number;
  validationExamples: number;
  /** Exact match on the held-out share before and after (null when not measured). */
  before: FinetuneMetrics | null;
  after: FinetuneMetrics | null;
  /** Training loss per chunk of steps, in order. */
  losses: number[];
}

/** What happened to a tool list's encoding (catalog-mask models; "none" for bidirectional ones). */
export type CatalogStatus = "hit" | "miss" | "off" | "none";

/** prepareTools' answer: the tool block's length in tokens and what happened to it. */
export interface PreparedTools { blockTokens: number; catalog: CatalogStatus }

export interface ModelInfo {
  vocabSize: number; dModel: number; nHeads: number; nKvHeads: number; nEncLayers: number;
  nDecLayers: number; maxEncLen: number; maxDecLen: number; dFf: number; contrastiveDim: number;
  /** "bidirectional" (Needle v1) or "catalog" (tool lists cached across calls: docs/engine.md). */
  encoderMask: "bidirectional" | "catalog";
  fileBytes: number;
}

export interface ToolCaller {
  readonly build: Build;
  readonly threads: number;
  readonly inWorker: boolean;
  readonly model: ModelInfo;
  /**
   * Turns a request and a tool list into function calls.
   * @throws {InvalidToolsError} tools are not a valid tool list
   * @throws {InvalidInputError} empty query
   * @throws {AbortError} options.signal aborted
   * @throws {DisposedError} after dispose()
   * @example
   *   const r = await tc.call("turn on the lights", [{ name: "lights_on", description: "...", parameters: {} }]);
   *   r.calls // [{ name: "lights_on", arguments: {} }]
   */
  call(query: string, tools: Tool[] | string, options?: CallOptions): Promise<CallResult>;
  /**
   * The tools ranked by the model's retrieval head, best first (`k` of them; all when
   * omitted). Tool embeddings are cached, so a catalog is embedded once.
   * @throws {InvalidToolsError} @throws {ModelFormatError} UNSUPPORTED: no retrieval head
   */
  retrieve(query: string, tools: Tool[] | string, k?: number): Promise<RankedTool[]>;
  /**
   * Catalog-mask models (the default model): encodes this tool list now and keeps it, so the
   * first call with it encodes only its query. `catalog` is "miss" (encoded and kept), "hit"
   * (already kept), "off" (not kept: catalogCacheBytes 0 or too small) or "none" (a
   * bidirectional model: nothing to prepare).
   * @throws {InvalidToolsError}
   */
  prepareTools(tools: Tool[] | string): Promise<PreparedTools>;
  /**
   * Fine-tunes the loaded model on examples, in this engine's thread (the Worker for `mt` on
   * a page): LoRA by default, with a held-out share to measure the gain. The engine keeps
   * its model; load the returned one with createToolCaller({ model: result.model }).
   * Calls wait while it runs.
   * @throws {InvalidInputError} bad options or examples @throws {AbortError} signal aborted
   * @throws {UnsupportedEnvironmentError} NO_TRAINING: the edge build does not train
   */
  finetune(options: FinetuneOptions): Promise<FinetuneResult>;
  /**
   * Replaces the engine's model (same build, threads and Worker; no new instance, nothing
   * fetched for bytes). The old model stays if the new one does not load.
   * @throws {ModelFormatError} @throws {IntegrityError} @throws {ModelFetchError} @throws {OutOfMemoryError}
   */
  loadModel(model: ArrayBuffer | Uint8Array | string | URL | { url: string | URL; sha256?: string }): Promise<ModelInfo>;
  /** A copy of the loaded model's file (e.g. to switch back to it later with loadModel). */
  modelBytes(): Promise<Uint8Array>;
  /** The engine's WebAssembly memory now. @throws {DisposedError} */
  memory(): Promise<MemoryStats>;
  /** SentencePiece token ids of text (no BOS/EOS). @throws {DisposedError} */
  tokenize(text: string): Promise<number[]>;
  /** Frees the model, the WebAssembly instance and the Worker. Idempotent. */
  dispose(): Promise<void>;
}
