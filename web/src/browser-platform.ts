// browser-platform.ts — instantiating the mt and st builds in a page or a Worker. Asset
// URLs are written as `new URL("<literal>", import.meta.url)` so bundlers find and copy
// the .wasm, the pthread worker script and the default model.
import type { Platform } from "./create.js";
import type { EmscriptenFactory, NativeModule } from "./glue.js";
import type { Build } from "./types.js";
import { InvalidInputError } from "./errors.js";
import { DEFAULT_MODEL_MANIFEST } from "./default-model.js";

function assetUrls(build: Build) {
  if (build === "mt") {
    return {
      glue: new URL("./wasm/mt/needlepoint.mjs", import.meta.url),
      wasm: new URL("./wasm/mt/needlepoint.wasm", import.meta.url),
      worker: new URL("./wasm/mt/needlepoint.worker.js", import.meta.url),
      load: async (): Promise<EmscriptenFactory> => (await import("./wasm/mt/needlepoint.mjs")).default,
    };
  }
  if (build === "st") {
    return {
      glue: new URL("./wasm/st/needlepoint.mjs", import.meta.url),
      wasm: new URL("./wasm/st/needlepoint.wasm", import.meta.url),
      worker: null,
      load: async (): Promise<EmscriptenFactory> => (await import("./wasm/st/needlepoint.mjs")).default,
    };
  }
  throw new InvalidInputError('the edge build has its own entry point: import "needlepoint/edge"');
}

async function loadModule(build: Build, poolSize: number): Promise<NativeModule> {
  const urls = assetUrls(build);
  const factory = await urls.load();
  return factory({
    locateFile: (p: string) =>
      p.endsWith(".wasm") ? urls.wasm.href : p.endsWith(".worker.js") && urls.worker ? urls.worker.href : new URL(p, urls.glue).href,
    mainScriptUrlOrBlob: urls.glue.href,
    npPoolSize: poolSize,
  });
}

export const DEFAULT_MODEL_URL = new URL("./models/default.gguf", import.meta.url);

export const browserPlatform: Platform = {
  loadModule,
  // Verified against the package manifest (IntegrityError on mismatch).
  defaultModel: () => ({ url: DEFAULT_MODEL_URL.href, sha256: DEFAULT_MODEL_MANIFEST.sha256 ?? undefined }),
  hardwareThreads: () => (typeof navigator !== "undefined" && navigator.hardwareConcurrency) || 2,
};

/** True when SharedArrayBuffer and threads are usable (COOP/COEP served). */
export function isCrossOriginIsolated(): boolean {
  return (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true &&
         typeof SharedArrayBuffer === "function";
}
