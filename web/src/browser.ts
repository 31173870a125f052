// browser.ts — the entry point for pages and Web Workers (exports conditions "browser",
// "default"). Picks the build: mt when cross-origin isolated, else st. On a page's main
// thread the mt engine runs in a dedicated Worker (pthread joins busy-wait on the main
// thread, which erases the gain); in a Worker, and for st, it runs in-thread.
import { browserPlatform, isCrossOriginIsolated } from "./browser-platform.js";
import { createInThread, hasWasmSimd } from "./create.js";
import { AbortError, InvalidInputError, UnsupportedEnvironmentError } from "./errors.js";
import type { Build, CreateOptions, ToolCaller } from "./types.js";
import { createWorkerToolCaller } from "./worker-proxy.js";

export * from "./public.js";
export { isCached, clearCache } from "./model.js";

/** The build createToolCaller picks in this context: "mt" when threads are usable, else "st". */
export function chooseBuild(): Build {
  return isCrossOriginIsolated() ? "mt" : "st";
}

/**
 * Creates a tool caller: loads the WebAssembly build this context allows and the model.
 * @throws {ModelFormatError} the model bytes are not a usable model
 * @throws {ModelFetchError} the model cannot be downloaded
 * @throws {UnsupportedEnvironmentError} no WebAssembly SIMD, or mt asked for without isolation
 * @throws {AbortError} options.signal aborted
 * @example
 *   const tc = await createToolCaller({ model: "/models/needlepoint.gguf", onProgress: console.log });
 *   const { calls } = await tc.call("turn on the lights", tools);
 */
export async function createToolCaller(options: CreateOptions = {}): Promise<ToolCaller> {
  if (!hasWasmSimd()) throw new UnsupportedEnvironmentError("NO_SIMD", "this browser has no WebAssembly SIMD128");
  if (options.signal?.aborted) throw new AbortError("createToolCaller was aborted");
  const build = options.build ?? chooseBuild();
  if (build === "edge") throw new InvalidInputError('the edge build has its own entry point: import "needlepoint/edge"');
  if (build === "mt" && !isCrossOriginIsolated()) {
    throw new UnsupportedEnvironmentError("NO_THREADS",
      "the mt build needs a cross-origin isolated page (COOP: same-origin, COEP: require-corp)");
  }
  const onPage = typeof document !== "undefined";
  const useWorker = options.worker ?? (build === "mt" && onPage);
  if (useWorker && typeof Worker === "function") return createWorkerToolCaller(build, options);
  return createInThread(browserPlatform, build, options, !onPage);
}
