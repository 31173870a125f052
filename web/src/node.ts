// node.ts — the Node entry point (exports condition "node"). Uses the mt build by default
// (worker_threads always exist in Node), reads the .wasm from the package, and reads model
// files from disk straight into WebAssembly memory in 1 MiB pieces.
import { open, readFile, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { AbortError, InvalidInputError, ModelFetchError, UnsupportedEnvironmentError } from "./errors.js";
import { createInThread, hasWasmSimd, type Platform } from "./create.js";
import { DEFAULT_MODEL_MANIFEST } from "./default-model.js";
import type { EmscriptenFactory, NativeModule } from "./glue.js";
import type { ByteStream } from "./model.js";
import type { Build, CreateOptions, ToolCaller } from "./types.js";

export * from "./public.js";
export { isCached, clearCache } from "./model.js";

const DEFAULT_MODEL = new URL("./models/default.gguf", import.meta.url);

async function importGlue(build: Build): Promise<{ factory: EmscriptenFactory; dir: string }> {
  if (build === "mt") {
    return { factory: (await import("./wasm/mt/needlepoint.mjs")).default, dir: fileURLToPath(new URL("./wasm/mt/", import.meta.url)) };
  }
  if (build === "st") {
    return { factory: (await import("./wasm/st/needlepoint.mjs")).default, dir: fileURLToPath(new URL("./wasm/st/", import.meta.url)) };
  }
  throw new InvalidInputError('the edge build is for edge runtimes: import "needlepoint/edge"');
}

async function loadModule(build: Build, poolSize: number): Promise<NativeModule> {
  const { factory, dir } = await importGlue(build);
  const wasmBinary = await readFile(join(dir, "needlepoint.wasm"));
  return factory({
    wasmBinary,
    locateFile: (p: string) => join(dir, p),
    mainScriptUrlOrBlob: join(dir, "needlepoint.mjs"),
    npRequire: createRequire(join(dir, "needlepoint.mjs")),
    npDirname: dir,
    npPoolSize: poolSize,
    printErr: (s: string) => process.stderr.write(`needlepoint: ${s}\n`),
  });
}

/** A local file (path or file: URL) as a stream of 1 MiB reads. The file is opened when the
 * reading starts (a model refused by its size is never opened). */
async function openLocal(source: string): Promise<ByteStream | null> {
  if (/^(https?|data|blob):/i.test(source)) return null;
  const path = source.startsWith("file:") ? fileURLToPath(source) : source;
  let size: number;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new Error("not a regular file");
    size = st.size;
  } catch (e) {
    throw new ModelFetchError(`cannot open the model file ${path}: ${(e as Error).message}`, { path });
  }
  async function* chunks(): AsyncIterable<Uint8Array> {
    let handle;
    try {
      handle = await open(path, "r");
    } catch (e) {
      throw new ModelFetchError(`cannot open the model file ${path}: ${(e as Error).message}`, { path });
    }
    const buf = Buffer.allocUnsafe(1 << 20);
    try {
      for (let pos = 0; pos < size;) {
        const { bytesRead } = await handle.read(buf, 0, Math.min(buf.length, size - pos), pos);
        if (bytesRead === 0) break;
        yield buf.subarray(0, bytesRead);
        pos += bytesRead;
      }
    } finally {
      await handle.close();
    }
  }
  return { size, chunks: chunks() };
}

const nodePlatform: Platform = {
  loadModule,
  // Verified against the package manifest (IntegrityError on mismatch).
  defaultModel: () => ({ url: DEFAULT_MODEL.href, sha256: DEFAULT_MODEL_MANIFEST.sha256 ?? undefined }),
  openLocal,
  hardwareThreads: () => availableParallelism(),
};

/**
 * Creates a tool caller in Node. Default build: mt (threads); `build: "st"` forces one thread.
 * @throws {ModelFormatError} the model bytes are not a usable model
 * @throws {ModelFetchError} the model file or URL cannot be read
 * @throws {UnsupportedEnvironmentError} no WebAssembly SIMD
 * @throws {AbortError} options.signal aborted
 * @example
 *   const tc = await createToolCaller({ model: "model.gguf" });
 *   const { calls } = await tc.call("turn on the lights", tools);
 *   await tc.dispose();
 */
export async function createToolCaller(options: CreateOptions = {}): Promise<ToolCaller> {
  if (!hasWasmSimd()) throw new UnsupportedEnvironmentError("NO_SIMD", "this runtime has no WebAssembly SIMD128");
  if (options.signal?.aborted) throw new AbortError("createToolCaller was aborted");
  const build = options.build ?? "mt";
  return createInThread(nodePlatform, build, options, false);
}

/** The build createToolCaller picks here: always "mt" in Node. */
export function chooseBuild(): Build { return "mt"; }

