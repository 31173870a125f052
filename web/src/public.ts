// public.ts — what every entry point exports besides createToolCaller/chooseBuild: the
// error classes and the public types (internal helpers of errors.ts stay private).
export {
  NeedlepointError, InvalidToolsError, InvalidInputError, ModelFormatError, ModelFetchError, IntegrityError, AbortError,
  DisposedError, UnsupportedEnvironmentError, OutOfMemoryError, InternalError,
} from "./errors.js";
export type { ErrorCode } from "./errors.js";
export type * from "./types.js";
export { openAICompatibleFallback, toOpenAITool, defaultHandoffReason, DEFAULT_CONFIDENCE_THRESHOLD } from "./fallback.js";
export type { OpenAIFallbackOptions } from "./fallback.js";
export { synthesizeExamples } from "./synth.js";
export type { SynthesizeOptions } from "./synth.js";
