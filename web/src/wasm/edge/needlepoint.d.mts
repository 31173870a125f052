// Types of the Emscripten glue built by tools/build-wasm.sh (wasm/bindings.cpp).
import type { EmscriptenFactory } from "../../glue.js";
declare const createNeedlepoint: EmscriptenFactory;
export default createNeedlepoint;
