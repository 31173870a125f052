// worker-proxy.ts — the ToolCaller interface in front of a dedicated Worker (worker.ts):
// requests with ids, progress and token events routed to the caller's callbacks, typed
// errors rebuilt from {name, code, message}. Abort: with SharedArrayBuffer (cross-origin
// isolated pages) a shared flag stops the running call within one token; without it the
// promise rejects at once and the Worker's late answer is dropped.
import { AbortError, DisposedError, InternalError, InvalidInputError, errorFromWire } from "./errors.js";
import { CALL_OPTION_KEYS, CREATE_OPTION_KEYS, checkOptionKeys, preselectOptions, priorWeights, toolsToJson } from "./engine.js";
import { checkFallbackOptions, withFallback, type FallbackSettings } from "./fallback.js";
import { planFinetune } from "./finetune.js";
import type { Reply, Request, WireModel } from "./protocol.js";
import type { Build, CallOptions, CallResult, CreateOptions, PreparedTools, FinetuneOptions, FinetuneProgress, FinetuneResult, MemoryStats,
  ModelInfo, ModelSource, RankedTool, Tool, ToolCaller, TokenEvent } from "./types.js";

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  onToken?: (t: TokenEvent) => void;
  onFinetune?: (p: FinetuneProgress) => void;
  onProgress?: CreateOptions["onProgress"];
}

type RequestBody = Request extends infer R ? R extends { id: number } ? Omit<R, "id"> : never : never;

class WorkerToolCaller implements ToolCaller {
  build: Build = "st";
  threads = 1;
  readonly inWorker = true;
  model!: ModelInfo;
  private worker: Worker | null;
  private nextId = 1;
  private pending = new Map<number, Pending>();
  private settings: FallbackSettings;

  constructor(worker: Worker, settings: FallbackSettings) {
    this.worker = worker;
    this.settings = settings;
    worker.onmessage = (ev: MessageEvent<Reply>) => this.onReply(ev.data);
    worker.onerror = (ev: ErrorEvent) => {
      ev.preventDefault?.();
      this.failAll(new InternalError("WORKER", `the engine Worker failed: ${ev.message || "script error"}`));
    };
  }

  private onReply(m: Reply): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    switch (m.type) {
      case "progress": p.onProgress?.(m.event); return;
      case "token": try { p.onToken?.(m.token); } catch { /* a throwing callback does not break the stream */ } return;
      case "finetune-progress": try { p.onFinetune?.(m.progress); } catch { /* ignored, as for tokens */ } return;
      case "ready": this.pending.delete(m.id); p.resolve(m); return;
      case "result": this.pending.delete(m.id); p.resolve(m.value); return;
      case "error": this.pending.delete(m.id); p.reject(errorFromWire(m.error)); return;
    }
  }

  private failAll(e: Error): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.reject(e);
  }

  request(body: RequestBody, extra: Omit<Pending, "resolve" | "reject"> = {}, transfer: Transferable[] = []):
      { id: number; promise: Promise<unknown> } {
    const worker = this.worker;
    const id = this.nextId++;
    if (!worker) return { id, promise: Promise.reject(new DisposedError()) };
    const promise = new Promise<unknown>((resolve, reject) => this.pending.set(id, { resolve, reject, ...extra }));
    worker.postMessage({ ...body, id } as Request, transfer);
    return { id, promise };
  }

  /** Rejects one request now; its late reply is ignored. */
  cancel(id: number, e: Error): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    p.reject(e);
  }

  async call(query: string, tools: Tool[] | string, options: CallOptions = {}): Promise<CallResult> {
    if (!this.worker) throw new DisposedError();
    checkOptionKeys(options, CALL_OPTION_KEYS, "call options");
    const toolsJson = toolsToJson(tools);
    const { signal } = options;
    if (signal?.aborted) throw new AbortError("the call was aborted before it started");
    const [preselectAbove, preselectK] = preselectOptions(options);
    priorWeights(options);  // checked here, so a bad value fails before the worker is asked
    if (options.fullLogits !== undefined && typeof options.fullLogits !== "boolean")
      throw new InvalidInputError("fullLogits must be true or false");
    checkFallbackOptions(this.settings, options);
    const sab = typeof SharedArrayBuffer === "function" && (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated
      ? new SharedArrayBuffer(4) : undefined;
    const t0 = performance.now();
    const { id, promise } = this.request(
      { type: "call", query, tools: toolsJson, maxTokens: options.maxTokens, constrained: options.constrained,
        preselectAbove, preselectK, priors: options.priors, fullLogits: options.fullLogits, wantTokens: !!options.onToken,
        abortFlag: sab },
      { onToken: options.onToken });
    const onAbort = () => {
      if (sab) Atomics.store(new Int32Array(sab), 0, 1);
      if (this.pending.has(id)) this.worker?.postMessage({ type: "cancel", id } as Request);
      this.cancel(id, new AbortError("the call was aborted"));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      const r = (await promise) as CallResult;
      const local = { ...r, timings: { ...r.timings, wallMs: performance.now() - t0 }, inWorker: true };
      return await withFallback(local, query, tools, this.settings, options);
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  async finetune(options: FinetuneOptions): Promise<FinetuneResult> {
    if (!this.worker) throw new DisposedError();
    planFinetune(options);   // the same checks, here, so bad options fail before the round trip
    const { signal, onProgress, ...rest } = options;
    if (signal?.aborted) throw new AbortError("fine-tuning was aborted before it started");
    const { id, promise } = this.request({ type: "finetune", options: rest, wantProgress: !!onProgress },
                                         { onFinetune: onProgress });
    const onAbort = () => {
      this.worker?.postMessage({ type: "cancel", id } as Request);
      this.cancel(id, new AbortError("fine-tuning was aborted"));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      return (await promise) as FinetuneResult;
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  async prepareTools(tools: Tool[] | string): Promise<PreparedTools> {
    return (await this.request({ type: "prepareTools", tools: toolsToJson(tools) }).promise) as PreparedTools;
  }

  async retrieve(query: string, tools: Tool[] | string, k?: number): Promise<RankedTool[]> {
    return (await this.request({ type: "retrieve", query, tools: toolsToJson(tools), k }).promise) as RankedTool[];
  }

  async loadModel(source: ModelSource): Promise<ModelInfo> {
    if (!this.worker) throw new DisposedError();
    const m = source;
    let model: WireModel;
    if (m instanceof URL) model = m.href;
    else if (m && typeof m === "object" && !(m instanceof ArrayBuffer) && !(m instanceof Uint8Array)) model = { url: String(m.url), sha256: m.sha256 };
    else model = m;
    this.model = (await this.request({ type: "load", model }).promise) as ModelInfo;
    return this.model;
  }

  async modelBytes(): Promise<Uint8Array> {
    return (await this.request({ type: "model-bytes" }).promise) as Uint8Array;
  }

  async memory(): Promise<MemoryStats> {
    return (await this.request({ type: "memory" }).promise) as MemoryStats;
  }

  async tokenize(text: string): Promise<number[]> {
    return (await this.request({ type: "tokenize", text }).promise) as number[];
  }

  async dispose(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    const done = this.request({ type: "dispose" }).promise.catch(() => undefined);
    await Promise.race([done, new Promise((r) => setTimeout(r, 2000))]);
    this.worker = null;
    worker.terminate();
    this.failAll(new DisposedError());
  }
}

/** Starts the engine Worker and creates the engine inside it. */
export async function createWorkerToolCaller(build: Build, options: CreateOptions): Promise<ToolCaller> {
  checkOptionKeys(options, CREATE_OPTION_KEYS, "createToolCaller options");
  const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module", name: "needlepoint" });
  const proxy = new WorkerToolCaller(worker,
    { fallback: options.fallback, confidenceThreshold: options.confidenceThreshold, fallbackWhen: options.fallbackWhen });
  const { signal } = options;
  let model: WireModel;
  const m = options.model;
  if (m instanceof URL) model = m.href;
  else if (m && typeof m === "object" && !(m instanceof ArrayBuffer) && !(m instanceof Uint8Array)) {
    model = { url: String(m.url), sha256: m.sha256 };
  } else model = m;   // string, bytes (structured-cloned: the caller keeps its copy) or undefined
  const { id, promise } = proxy.request(
    { type: "create", model, threads: options.threads, build, cache: options.cache, memoryLimit: options.memoryLimit,
      catalogCacheBytes: options.catalogCacheBytes },
    { onProgress: options.onProgress });
  const onAbort = () => proxy.cancel(id, new AbortError("createToolCaller was aborted"));
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const ready = (await promise) as Extract<Reply, { type: "ready" }>;
    proxy.build = ready.build;
    proxy.threads = ready.threads;
    proxy.model = ready.model;
    return proxy;
  } catch (e) {
    await proxy.dispose();
    throw e;
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}
