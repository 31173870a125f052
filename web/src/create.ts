// create.ts — the steps every in-thread createToolCaller shares: instantiate the chosen
// build, set its thread count (never more than its pthread pool + the caller, so a thread
// never waits for a worker to load), load the model, report progress.
import { AbortError, InvalidInputError, asNeedlepointError } from "./errors.js";
import type { NativeModule } from "./glue.js";
import { CREATE_OPTION_KEYS, InThreadEngine, checkOptionKeys } from "./engine.js";
import { bytesStream, checkSha256, classifySource, loadModelFromUrl, writeModel, type ByteStream } from "./model.js";
import type { Build, CreateOptions, ModelSource } from "./types.js";

/** Most threads per call; also the mt build's pthread pool + 1. */
export const MAX_THREADS = 8;

export interface Platform {
  /** Instantiates the build with a pthread pool of poolSize workers (mt). */
  loadModule(build: Build, poolSize: number): Promise<NativeModule>;
  /** The bundled default model. */
  defaultModel(): ModelSource;
  /** Opens sources the platform reads itself (Node: file paths); null: not one of those. */
  openLocal?(source: string): Promise<ByteStream | null>;
  hardwareThreads(): number;
}

export function resolveThreads(build: Build, requested: number | undefined, platform: Platform): number {
  if (build !== "mt") return 1;
  if (requested !== undefined && (!Number.isInteger(requested) || requested < 1)) {
    throw new InvalidInputError("threads must be a positive integer");
  }
  const n = requested ?? Math.min(platform.hardwareThreads(), 4);
  return Math.max(1, Math.min(n, MAX_THREADS));
}

export async function createInThread(platform: Platform, build: Build, options: CreateOptions,
                                     inWorker: boolean): Promise<InThreadEngine> {
  const t0 = performance.now();
  checkOptionKeys(options, CREATE_OPTION_KEYS, "createToolCaller options");
  const { onProgress, signal } = options;
  if (signal?.aborted) throw new AbortError("createToolCaller was aborted");
  const threads = resolveThreads(build, options.threads, platform);
  const limit = options.memoryLimit;
  if (limit !== undefined && !(typeof limit === "number" && Number.isFinite(limit) && limit > 0)) {
    throw new InvalidInputError("memoryLimit must be a positive number of bytes");
  }
  const catalogBytes = options.catalogCacheBytes;
  if (catalogBytes !== undefined && !(typeof catalogBytes === "number" && Number.isFinite(catalogBytes) && catalogBytes >= 0)) {
    throw new InvalidInputError("catalogCacheBytes must be a number of bytes (0 turns the cache off)");
  }
  onProgress?.({ status: "wasm", build });
  // At least one pool worker: Emscripten 3.1.6 never finishes starting with a pool of 0.
  const mod = await platform.loadModule(build, Math.max(1, threads - 1));
  let native = null;
  try {
    if (build === "mt") mod.setThreads(threads);
    if (limit !== undefined) mod.setMemoryLimit(limit);
    if (catalogBytes !== undefined) mod.setCatalogCacheBytes(catalogBytes);
    native = new mod.Engine();
    const source = options.model ?? platform.defaultModel();
    const src = classifySource(source);
    let loaded;
    const local = "url" in src && platform.openLocal ? await platform.openLocal(src.url) : null;
    if ("bytes" in src) {
      loaded = await writeModel(mod, native, bytesStream(src.bytes), undefined, signal);
    } else if (local) {
      loaded = await writeModel(mod, native, local, undefined, signal);
      checkSha256(loaded.sha256, "url" in src ? src.sha256 : undefined, `the model file ${"url" in src ? src.url : ""}`);
    } else {
      loaded = await loadModelFromUrl(mod, native, src.url, src.sha256, { onProgress, signal, cache: options.cache });
    }
    onProgress?.({ status: "model", bytes: loaded.size });
    const engine = new InThreadEngine(mod, native, build, loaded.info, inWorker,
      { fallback: options.fallback, confidenceThreshold: options.confidenceThreshold, fallbackWhen: options.fallbackWhen });
    onProgress?.({ status: "ready", build, threads: engine.threads, inWorker, ms: performance.now() - t0 });
    return engine;
  } catch (e) {
    if (native) { native.dispose(); native.delete(); }
    mod.PThread?.terminateAllThreads();
    throw asNeedlepointError(e);
  }
}

/** Whether this runtime validates WebAssembly SIMD128 (a v128.const in a function body). */
export function hasWasmSimd(): boolean {
  try {
    return WebAssembly.validate(new Uint8Array([
      0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0,
      253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11]));
  } catch {
    return false;
  }
}
