// The edge build's .wasm, imported as a compiled WebAssembly.Module (workerd, wrangler).
declare const wasmModule: WebAssembly.Module;
export default wasmModule;
