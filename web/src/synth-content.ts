// synth-content.ts — the word lists synth.ts draws from: the data factory's shared content
// (data/factory/common.json: slot values, prefixes, suffixes, wrappers, context sentences,
// no-call queries). tools/build-wasm.sh rewrites the compiled npm/dist/synth-content.js from
// that file, so the package carries the factory's current lists; this source holds a few
// of each only so that the TypeScript compiles on its own.
export interface SynthContent {
  slots: Record<string, unknown>;
  prefixes: string[];
  suffixes: string[];
  wrappers: string[];
  context_before: string[];
  no_call: string[];
}

export const SYNTH_CONTENT: SynthContent = {
  slots: { person: ["Priya", "Mohammed", "Sofia"], city: ["Paris", "Lagos", "Tokyo"] },
  prefixes: ["hey, "], suffixes: [" please"], wrappers: ["could you {q}?"], context_before: ["My hands are full."],
  no_call: ["what's your name?"],
};
