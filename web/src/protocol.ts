// protocol.ts — messages between the page (worker-proxy.ts) and the engine's dedicated
// Worker (worker.ts). Every request carries an id; replies and events carry it back.
// Requests run one at a time in arrival order; "cancel" is handled as it arrives.
// Errors cross as WireError {name, code, message, details} and are rebuilt into classes.
import type { WireError } from "./errors.js";
import type { Build, CallOptions, FinetuneOptions, FinetuneProgress, ModelInfo, ProgressEvent, TokenEvent } from "./types.js";

export type WireModel = string | ArrayBuffer | Uint8Array | { url: string; sha256?: string } | undefined;

export type Request =
  | { type: "create"; id: number; model: WireModel; threads?: number; build: Build; cache?: boolean; memoryLimit?: number;
      catalogCacheBytes?: number }
  | { type: "call"; id: number; query: string; tools: string; maxTokens?: number; constrained?: boolean;
      preselectAbove?: number; preselectK?: number; priors?: CallOptions["priors"]; fullLogits?: boolean; wantTokens: boolean;
      abortFlag?: SharedArrayBuffer }
  | { type: "tokenize"; id: number; text: string }
  | { type: "memory"; id: number }
  | { type: "load"; id: number; model: WireModel }
  | { type: "model-bytes"; id: number }
  | { type: "finetune"; id: number; options: Omit<FinetuneOptions, "signal" | "onProgress">; wantProgress: boolean }
  | { type: "retrieve"; id: number; query: string; tools: string; k?: number }
  | { type: "prepareTools"; id: number; tools: string }
  // Drops the queued call with this id (its promise has already been rejected); a call that
  // has started stops through its abort flag instead. No reply.
  | { type: "cancel"; id: number }
  | { type: "dispose"; id: number };

export type Reply =
  | { type: "progress"; id: number; event: ProgressEvent }
  | { type: "token"; id: number; token: TokenEvent }
  | { type: "finetune-progress"; id: number; progress: FinetuneProgress }
  | { type: "ready"; id: number; build: Build; threads: number; model: ModelInfo }
  | { type: "result"; id: number; value: unknown }
  | { type: "error"; id: number; error: WireError };
