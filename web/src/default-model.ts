// default-model.ts — the package manifest's entry for the bundled default model: its file
// and SHA-256. tools/build-wasm.sh rewrites the compiled npm/dist/default-model.js with the
// real digest and size when it copies the model into the package (and writes the same into
// npm/dist/models/manifest.json); every default-model load is verified against it, so a
// damaged or swapped file is an IntegrityError, never a silently different model.
export interface ModelManifestEntry { file: string; sha256: string | null; bytes: number }

export const DEFAULT_MODEL_MANIFEST: ModelManifestEntry = { file: "models/default.gguf", sha256: null, bytes: 0 };
