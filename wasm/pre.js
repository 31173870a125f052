// pre.js — runs inside the Emscripten factory before the glue. Emscripten 3.1.6's ES
// module output still calls CommonJS `require` and reads `__dirname` when it runs in Node;
// the Node loader (web/src/node.ts) passes them as Module.npRequire / Module.npDirname so
// that no global is touched. Pthread workers in Node define their own global require.
var require = Module['npRequire'] || (typeof globalThis.require == 'function' ? globalThis.require : undefined);
var __dirname = Module['npDirname'] || (typeof globalThis.__dirname == 'string' ? globalThis.__dirname : '');
