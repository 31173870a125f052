// edge.ts — the entry point for edge runtimes (exports conditions "workerd", "worker",
// "edge-light"; or "needlepoint/edge"): the single-thread build with no eval/new Function
// and no filesystem, instantiated from the .wasm imported as a WebAssembly.Module (these
// runtimes refuse to compile bytes). The model must be given (bytes or a URL).
import { createInThread, hasWasmSimd, type Platform } from "./create.js";
import { InvalidInputError, UnsupportedEnvironmentError } from "./errors.js";
import type { NativeModule } from "./glue.js";
import type { Build, CreateOptions, ToolCaller } from "./types.js";
import createNeedlepoint from "./wasm/edge/needlepoint.mjs";
import wasmModule from "./wasm/edge/needlepoint.wasm";

export * from "./public.js";

async function loadModule(): Promise<NativeModule> {
  return createNeedlepoint({
    instantiateWasm(imports, receive) {
      WebAssembly.instantiate(wasmModule, imports).then((instance) => receive(instance, wasmModule));
      return {};
    },
    // Keeps the glue from evaluating new URL(..., import.meta.url): undefined in workerd.
    locateFile: (p: string) => p,
  });
}

/** Default memory bound of the edge build: under a 128 MB isolate with room for the JS heap. */
const EDGE_MEMORY_LIMIT = 112 * 1048576;

const edgePlatform: Platform = {
  loadModule,
  defaultModel: () => { throw new InvalidInputError("the edge entry has no bundled model: pass options.model (bytes or URL)"); },
  hardwareThreads: () => 1,
};

/**
 * Creates a tool caller in an edge runtime (Cloudflare Workers, workerd).
 * @throws {InvalidInputError} no model given
 * @throws {ModelFormatError} the model bytes are not a usable model
 * @example
 *   import { createToolCaller } from "needlepoint";   // resolves here under "workerd"
 *   const tc = await createToolCaller({ model: await env.MODEL.arrayBuffer() });
 */
export async function createToolCaller(options: CreateOptions = {}): Promise<ToolCaller> {
  if (!hasWasmSimd()) throw new UnsupportedEnvironmentError("NO_SIMD", "this runtime has no WebAssembly SIMD128");
  if (options.build && options.build !== "edge") throw new InvalidInputError('this entry point only runs the "edge" build');
  if (options.model === undefined) throw new InvalidInputError("the edge entry has no bundled model: pass options.model (bytes or URL)");
  return createInThread(edgePlatform, "edge",
    { ...options, cache: options.cache ?? false, memoryLimit: options.memoryLimit ?? EDGE_MEMORY_LIMIT }, true);
}

export function chooseBuild(): Build { return "edge"; }
