// model.ts — getting model bytes into WebAssembly memory: from bytes, a URL (streamed with
// progress) or the Cache API. Bytes of known length go straight into a heap buffer that
// the engine allocated (HEAPU8 is read again after that allocation, never before), hashed
// on the way (SHA-256), so the JS heap never holds a second full copy. Downloads are cached
// under their content hash, with a URL -> hash index; any cache failure (quota, no Cache
// API) falls back to memory only.
import { AbortError, IntegrityError, ModelFetchError, OutOfMemoryError, errorFromCode } from "./errors.js";
import type { NativeEngine, NativeInfo, NativeModule } from "./glue.js";
import { Sha256 } from "./sha256.js";
import type { ModelSource, ProgressEvent } from "./types.js";

const CACHE_NAME = "needlepoint-models-v1";
const INDEX_PREFIX = "https://needlepoint.invalid/url/";
const BLOB_PREFIX = "https://needlepoint.invalid/sha256/";

/** A model as a byte stream: its size when known, and its chunks. */
export interface ByteStream { size: number | null; chunks: AsyncIterable<Uint8Array> }

export interface LoadContext {
  onProgress?: (e: ProgressEvent) => void;
  signal?: AbortSignal;
  cache?: boolean;
}

/** Throws IntegrityError when a digest is expected and differs (hex, any case). */
export function checkSha256(actual: string, expected: string | undefined, where: string): void {
  if (expected && actual !== expected.toLowerCase()) {
    throw new IntegrityError(`${where} has SHA-256 ${actual}, expected ${expected.toLowerCase()}`,
                             { sha256: actual, expected: expected.toLowerCase() });
  }
}

function noRoom(mod: NativeModule, size: number): OutOfMemoryError {
  const s = mod.memoryStats();
  const mib = (b: number) => `${Math.round(b / 1048576)} MiB`;
  return new OutOfMemoryError(`the model file (${mib(size)}) does not fit: ${mib(s.usedBytes)} in use, limit ${mib(s.limitBytes)}`);
}

/** The current heap view: in mt a pthread can grow the shared memory, and the main thread's
 * HEAPU8 then still covers only the old size. */
function heapU8(mod: NativeModule): Uint8Array {
  const mem = mod.wasmMemory;
  return mem && mod.HEAPU8.buffer !== mem.buffer ? new Uint8Array(mem.buffer) : mod.HEAPU8;
}

function checkAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw new AbortError("model loading was aborted");
}

async function* single(bytes: Uint8Array): AsyncIterable<Uint8Array> { yield bytes; }

export function bytesStream(source: ArrayBuffer | Uint8Array): ByteStream {
  const bytes = source instanceof Uint8Array ? source : new Uint8Array(source);
  return { size: bytes.length, chunks: single(bytes) };
}

async function* readBody(body: ReadableStream<Uint8Array>, signal?: AbortSignal): AsyncIterable<Uint8Array> {
  const reader = body.getReader();
  try {
    for (;;) {
      checkAborted(signal);
      const { done, value } = await reader.read();
      if (done) return;
      if (value && value.length) yield value;
    }
  } finally {
    reader.releaseLock();
  }
}

function responseStream(res: Response, signal?: AbortSignal): ByteStream {
  const enc = res.headers.get("content-encoding");
  const len = Number(res.headers.get("content-length"));
  // With a content encoding the length is the compressed size: the bytes then go through
  // a growing buffer instead of straight into the heap.
  const size = (!enc || enc === "identity") && Number.isFinite(len) && len > 0 ? len : null;
  if (!res.body) return { size, chunks: (async function* () { yield new Uint8Array(await res.arrayBuffer()); })() };
  return { size, chunks: readBody(res.body, signal) };
}

/**
 * Writes a stream into a fresh heap buffer of the engine and parses it.
 * Returns the model info and the content's SHA-256.
 * @throws {OutOfMemoryError} the buffer could not be allocated
 * @throws {ModelFormatError} the bytes are not a usable model
 */
export async function writeModel(mod: NativeModule, engine: NativeEngine, stream: ByteStream,
                                 progress?: (loaded: number) => void,
                                 signal?: AbortSignal): Promise<{ info: NativeInfo; sha256: string; ptr: number; size: number }> {
  const hash = new Sha256();
  let ptr = 0, size = 0;
  if (stream.size !== null) {
    size = stream.size;
    ptr = engine.allocModel(size);
    if (!ptr) throw noRoom(mod, size);
    let off = 0;
    for await (const chunk of stream.chunks) {
      checkAborted(signal);
      if (off + chunk.length > size) throw new ModelFetchError(`the model is longer than its declared ${size} bytes`);
      heapU8(mod).set(chunk, ptr + off);   // the view is made after the allocation
      hash.update(chunk);
      off += chunk.length;
      progress?.(off);
    }
    if (off !== size) throw new ModelFetchError(`the model stream ended after ${off} of ${size} bytes`);
  } else {
    // Unknown length: gather, then copy once (the chunks are dropped right after).
    const parts: Uint8Array[] = [];
    for await (const chunk of stream.chunks) {
      checkAborted(signal);
      parts.push(chunk);
      hash.update(chunk);
      size += chunk.length;
      progress?.(size);
    }
    ptr = engine.allocModel(size);
    if (!ptr) throw noRoom(mod, size);
    let off = 0;
    const heap = heapU8(mod);
    for (const p of parts.splice(0)) { heap.set(p, ptr + off); off += p.length; }
  }
  checkAborted(signal);
  const info = engine.loadModel();
  if (!info.ok) throw errorFromCode(info.code ?? "INTERNAL", info.message ?? "model load failed");
  return { info, sha256: hash.digestHex(), ptr, size };
}

function cacheStorage(): CacheStorage | null {
  return typeof caches !== "undefined" && caches && typeof caches.open === "function" ? caches : null;
}

function urlKey(url: string): string { return INDEX_PREFIX + encodeURIComponent(url); }

/** Looks a URL up in the model cache: its hash and a stream of the cached bytes. */
async function cacheLookup(url: string, sha256?: string): Promise<{ sha256: string; res: Response } | null> {
  const cs = cacheStorage();
  if (!cs) return null;
  try {
    const cache = await cs.open(CACHE_NAME);
    let hash = sha256;
    if (!hash) {
      const idx = await cache.match(urlKey(url));
      if (!idx) return null;
      hash = (await idx.text()).trim();
    }
    const res = await cache.match(BLOB_PREFIX + hash);
    return res ? { sha256: hash, res } : null;
  } catch {
    return null;
  }
}

/** Stores the model bytes (read back from the heap in 1 MiB slices) under their hash. */
async function cacheStore(mod: NativeModule, ptr: number, size: number, url: string, sha256: string): Promise<void> {
  const cs = cacheStorage();
  if (!cs) return;
  const parts: Uint8Array<ArrayBuffer>[] = [];
  const heap = heapU8(mod);
  for (let off = 0; off < size; off += 1 << 20) {
    parts.push(heap.slice(ptr + off, ptr + Math.min(size, off + (1 << 20))) as Uint8Array<ArrayBuffer>);
  }
  const cache = await cs.open(CACHE_NAME);
  await cache.put(BLOB_PREFIX + sha256, new Response(new Blob(parts), {
    headers: { "content-type": "application/octet-stream", "content-length": String(size) },
  }));
  await cache.put(urlKey(url), new Response(sha256));
}

/** Loads a model from a URL: cache first (when enabled), then the network, then caches it. */
export async function loadModelFromUrl(mod: NativeModule, engine: NativeEngine, url: string,
                                       expectedSha256: string | undefined, ctx: LoadContext) {
  const useCache = ctx.cache !== false;
  if (useCache) {
    const hit = await cacheLookup(url, expectedSha256);
    if (hit) {
      ctx.onProgress?.({ status: "cache-hit", url, sha256: hit.sha256 });
      const r = await writeModel(mod, engine, responseStream(hit.res, ctx.signal), undefined, ctx.signal);
      if (r.sha256 === hit.sha256) return r;
      // A damaged entry: drop it and download again.
      await clearCache(url).catch(() => undefined);
    }
  }
  let res: Response;
  try {
    res = await fetch(url, { signal: ctx.signal });
  } catch (e) {
    if (ctx.signal?.aborted) throw new AbortError("model download was aborted");
    throw new ModelFetchError(`cannot fetch the model from ${url}: ${e instanceof Error ? e.message : String(e)}`, { url });
  }
  if (!res.ok) throw new ModelFetchError(`cannot fetch the model from ${url}: HTTP ${res.status}`, { url, status: res.status });
  const stream = responseStream(res, ctx.signal);
  const total = stream.size;
  const r = await writeModel(mod, engine, stream,
    (loaded) => ctx.onProgress?.({ status: "download", loaded, total, url }), ctx.signal);
  try {
    checkSha256(r.sha256, expectedSha256, `the model from ${url}`);
  } catch (e) {
    engine.dispose();   // never cached, never kept
    throw e;
  }
  if (useCache && cacheStorage()) {
    try {
      await cacheStore(mod, r.ptr, r.size, url, r.sha256);
      ctx.onProgress?.({ status: "cached", url, sha256: r.sha256 });
    } catch (e) {
      ctx.onProgress?.({ status: "cache-error", message: e instanceof Error ? e.message : String(e) });
    }
  }
  return r;
}

/** Whether the model at this URL (or with this SHA-256) is in the cache. */
export async function isCached(source: string | URL | { url?: string | URL; sha256?: string }): Promise<boolean> {
  const url = typeof source === "string" || source instanceof URL ? String(source) : source.url ? String(source.url) : "";
  const sha = typeof source === "object" && !(source instanceof URL) ? source.sha256 : undefined;
  if (!url && !sha) return false;
  return (await cacheLookup(url, sha)) !== null;
}

/** Removes one URL's cached model, or every cached model. Returns whether anything was removed. */
export async function clearCache(url?: string | URL): Promise<boolean> {
  const cs = cacheStorage();
  if (!cs) return false;
  if (url === undefined) return cs.delete(CACHE_NAME);
  const cache = await cs.open(CACHE_NAME);
  const idx = await cache.match(urlKey(String(url)));
  if (!idx) return false;
  const hash = (await idx.text()).trim();
  await cache.delete(urlKey(String(url)));
  await cache.delete(BLOB_PREFIX + hash);
  return true;
}

/** A source as {url, sha256} or bytes. */
export function classifySource(source: ModelSource): { url: string; sha256?: string } | { bytes: ArrayBuffer | Uint8Array } {
  if (source instanceof ArrayBuffer || source instanceof Uint8Array) return { bytes: source };
  if (typeof source === "string" || source instanceof URL) return { url: String(source) };
  if (source && typeof source === "object" && "url" in source) return { url: String(source.url), sha256: source.sha256 };
  throw errorFromCode("INVALID_INPUT", "model must be a URL, bytes (ArrayBuffer/Uint8Array) or {url, sha256}");
}
