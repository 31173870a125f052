// errors.ts — the typed errors of the package. Every error has a string-literal `code`
// (the C++ core's codes from core/include/np/status.h, plus the JS layer's own), survives
// the Worker boundary as {name, code, message, details} and is rebuilt into its class on
// the other side (errorFromWire). Tests assert on the class or `code`, never on messages.

/** Codes the C++ core returns (core/include/np/status.h) plus the JS layer's own. */
export type ErrorCode =
  | "IO_ERROR" | "BAD_MAGIC" | "BAD_VERSION" | "TRUNCATED" | "CORRUPT" | "OVERFLOW" | "BAD_TYPE"
  | "BAD_SHAPE" | "MISSING_TENSOR" | "DUPLICATE_TENSOR" | "UNKNOWN_TENSOR" | "BAD_METADATA"
  | "BAD_ARCHITECTURE" | "UNSUPPORTED" | "INVALID_TOOLS" | "INVALID_INPUT" | "BAD_TOKENIZER"
  | "INTERNAL" | "ABORTED" | "OUT_OF_MEMORY"
  | "MODEL_FETCH" | "INTEGRITY" | "DISPOSED" | "NO_SIMD" | "NO_THREADS" | "NO_TRAINING" | "WORKER";

/** Base class of every error this package throws or rejects with. */
export class NeedlepointError extends Error {
  readonly code: ErrorCode;
  readonly details?: unknown;
  constructor(code: ErrorCode, message: string, details?: unknown) {
    super(message);
    this.name = "NeedlepointError";
    this.code = code;
    if (details !== undefined) this.details = details;
  }
}

/** The tools list is not valid JSON or not a valid tool list (code INVALID_TOOLS). */
export class InvalidToolsError extends NeedlepointError {
  constructor(message: string, details?: unknown) { super("INVALID_TOOLS", message, details); this.name = "InvalidToolsError"; }
}
/** A bad argument: empty query, bad option (code INVALID_INPUT). */
export class InvalidInputError extends NeedlepointError {
  constructor(message: string, details?: unknown) { super("INVALID_INPUT", message, details); this.name = "InvalidInputError"; }
}
/** The model bytes are not a usable Needle GGUF file (BAD_MAGIC, TRUNCATED, BAD_SHAPE, ...). */
export class ModelFormatError extends NeedlepointError {
  constructor(code: ErrorCode, message: string, details?: unknown) { super(code, message, details); this.name = "ModelFormatError"; }
}
/** The model could not be downloaded (code MODEL_FETCH; details.status holds the HTTP status). */
export class ModelFetchError extends NeedlepointError {
  constructor(message: string, details?: unknown) { super("MODEL_FETCH", message, details); this.name = "ModelFetchError"; }
}
/** The model's bytes do not have the SHA-256 that was expected (code INTEGRITY): a {url,
 * sha256} source, or the bundled default model against the package's manifest. Nothing of
 * the model is kept. details: {sha256 (what arrived), expected, url?}. */
export class IntegrityError extends NeedlepointError {
  constructor(message: string, details?: unknown) { super("INTEGRITY", message, details); this.name = "IntegrityError"; }
}
/** The operation was stopped by an AbortSignal (code ABORTED). */
export class AbortError extends NeedlepointError {
  constructor(message = "the operation was aborted", details?: unknown) { super("ABORTED", message, details); this.name = "AbortError"; }
}
/** The engine was disposed (code DISPOSED). */
export class DisposedError extends NeedlepointError {
  constructor(message = "the engine has been disposed") { super("DISPOSED", message); this.name = "DisposedError"; }
}
/** The runtime lacks something required: WebAssembly SIMD (NO_SIMD), threads (NO_THREADS),
 * training (NO_TRAINING: the edge build). */
export class UnsupportedEnvironmentError extends NeedlepointError {
  constructor(code: ErrorCode, message: string) { super(code, message); this.name = "UnsupportedEnvironmentError"; }
}
/** The model does not fit the memory limit (CreateOptions.memoryLimit, else the build's
 * maximum): refused before anything of it was allocated (code OUT_OF_MEMORY). */
export class OutOfMemoryError extends NeedlepointError {
  constructor(message: string) { super("OUT_OF_MEMORY", message); this.name = "OutOfMemoryError"; }
}
/** A bug or an unexpected failure (INTERNAL, IO_ERROR, UNSUPPORTED, WORKER). */
export class InternalError extends NeedlepointError {
  constructor(code: ErrorCode, message: string, details?: unknown) { super(code, message, details); this.name = "InternalError"; }
}

const MODEL_CODES = new Set<string>([
  "BAD_MAGIC", "BAD_VERSION", "TRUNCATED", "CORRUPT", "OVERFLOW", "BAD_TYPE", "BAD_SHAPE",
  "MISSING_TENSOR", "DUPLICATE_TENSOR", "UNKNOWN_TENSOR", "BAD_METADATA", "BAD_ARCHITECTURE",
  "BAD_TOKENIZER", "UNSUPPORTED",
]);

/** The error class for a code, e.g. errorFromCode("INVALID_TOOLS", m) -> InvalidToolsError. */
export function errorFromCode(code: string, message: string, details?: unknown): NeedlepointError {
  if (code === "INVALID_TOOLS") return new InvalidToolsError(message, details);
  if (code === "INVALID_INPUT") return new InvalidInputError(message, details);
  if (code === "ABORTED") return new AbortError(message, details);
  if (code === "DISPOSED") return new DisposedError(message);
  if (code === "MODEL_FETCH") return new ModelFetchError(message, details);
  if (code === "INTEGRITY") return new IntegrityError(message, details);
  if (code === "OUT_OF_MEMORY") return new OutOfMemoryError(message);
  if (code === "NO_SIMD" || code === "NO_THREADS" || code === "NO_TRAINING") return new UnsupportedEnvironmentError(code, message);
  if (MODEL_CODES.has(code)) return new ModelFormatError(code as ErrorCode, message, details);
  return new InternalError((code || "INTERNAL") as ErrorCode, message, details);
}

/** What crosses the Worker boundary. */
export interface WireError { name: string; code: string; message: string; details?: unknown }

export function errorToWire(e: unknown): WireError {
  if (e instanceof NeedlepointError) return { name: e.name, code: e.code, message: e.message, details: e.details };
  const message = e instanceof Error ? e.message : String(e);
  return { name: "InternalError", code: "INTERNAL", message };
}

export function errorFromWire(w: WireError): NeedlepointError {
  return errorFromCode(w.code, w.message, w.details);
}

/** Any thrown value as a NeedlepointError (unknown errors become InternalError). */
export function asNeedlepointError(e: unknown): NeedlepointError {
  if (e instanceof NeedlepointError) return e;
  if (e instanceof Error && e.name === "AbortError") return new AbortError(e.message);
  return new InternalError("INTERNAL", e instanceof Error ? e.message : String(e));
}
