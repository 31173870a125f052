import type { CatalogStatus } from "./types.js";
// glue.ts — the shape of the Emscripten module built from wasm/bindings.cpp: what the
// factory takes and what the Embind surface returns. Only module.ts and the entry points'
// loaders use it.

/** Plain-object result of every bound function. */
export interface NativeStatus { ok: boolean; code?: string; message?: string }
export interface NativeCall extends NativeStatus { json?: string; outputIds?: Int32Array; inputIds?: Int32Array }
export interface NativeInfo extends NativeStatus {
  config?: {
    vocabSize: number; dModel: number; nHeads: number; nKvHeads: number; nEncLayers: number;
    nDecLayers: number; maxEncLen: number; maxDecLen: number; dFf: number; contrastiveDim: number;
    encoderMask: "bidirectional" | "catalog";
  };
  fileBytes?: number;
}

export interface NativeMemoryStats { heapBytes: number; usedBytes: number; peakBytes: number; limitBytes: number }

export interface NativeEngine {
  allocModel(size: number): number;
  loadModel(): NativeInfo;
  loaded(): boolean;
  modelBytes(): NativeStatus & { bytes?: Uint8Array };
  info(): NativeInfo;
  call(query: string, tools: string, maxTokens: number, mode: number, preselectAbove: number,
       preselectK: number, toolPriorName: number, toolPriorCall: number, copyPrior: number, echoPrior: number,
       onToken: ((id: number, bytes: Uint8Array) => boolean) | undefined): NativeCall;
  retrieve(query: string, tools: string, k: number): NativeStatus & { json?: string };
  prepareTools(tools: string): NativeStatus & { blockTokens?: number; catalog?: CatalogStatus };
  finetuneStart(trainJsonl: string, configJson: string): NativeStatus & { steps?: number; valExamples?: number };
  finetuneStep(n: number): NativeStatus & { step?: number; steps?: number; loss?: number; ce?: number; tokens?: number; ms?: number; done?: boolean };
  finetuneEvaluate(tuned: boolean): NativeStatus & { json?: string };
  finetuneExport(type: string): NativeStatus & { bytes?: Uint8Array };
  finetuneEnd(): void;
  tokenize(text: string): NativeStatus & { ids?: Int32Array };
  detokenize(ids: number[]): NativeStatus & { text?: string };
  dispose(): void;
  delete(): void;
}

export interface NativeModule {
  Engine: new () => NativeEngine;
  buildInfo(): { variant: string; simd: boolean; pthreads: boolean };
  setThreads(n: number): void;
  getThreads(): number;
  setMemoryLimit(bytes: number): void;
  setCatalogCacheBytes(bytes: number): void;
  memoryStats(): NativeMemoryStats;
  HEAPU8: Uint8Array;
  /** mt only: the shared memory (another thread may have grown it since HEAPU8 was made). */
  wasmMemory?: WebAssembly.Memory;
  PThread?: { terminateAllThreads(): void };
}

export interface FactoryOptions {
  wasmBinary?: ArrayBuffer | Uint8Array;
  instantiateWasm?: (imports: WebAssembly.Imports,
                     receive: (instance: WebAssembly.Instance, module: WebAssembly.Module) => void) => object;
  locateFile?: (path: string, prefix: string) => string;
  mainScriptUrlOrBlob?: string;
  print?: (s: string) => void;
  printErr?: (s: string) => void;
  npRequire?: unknown;
  npDirname?: string;
  npPoolSize?: number;
}

export type EmscriptenFactory = (options?: FactoryOptions) => Promise<NativeModule>;
