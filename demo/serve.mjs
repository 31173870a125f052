// serve.mjs — the demo's static server, 127.0.0.1 only. `isolated` adds COOP/COEP/CORP to
// every response (cross-origin isolation: the threaded mt build); without it the page runs
// the single-thread st build. /models/ can map to another directory (tests' small models).
// Usage: node demo/serve.mjs [--root build/demo] [--port 8080] [--plain-port 8081]
import { createServer } from "node:http";
import { createReadStream, statSync } from "node:fs";
import { dirname, extname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css",
                ".json": "application/json", ".webmanifest": "application/manifest+json", ".svg": "image/svg+xml",
                ".wasm": "application/wasm", ".gguf": "application/octet-stream", ".png": "image/png" };

function inside(base, path) {
  const file = resolve(base, "." + path);
  return file === base || file.startsWith(base + sep) ? file : null;
}

export function startDemoServer({ root, modelsDir = null, isolated = true, port = 0 }) {
  const requests = [];
  const rootDir = resolve(root), modelDir = modelsDir && resolve(modelsDir);
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    requests.push(path);
    const headers = { "cache-control": "no-cache" };
    if (isolated) Object.assign(headers, { "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp",
                                           "Cross-Origin-Resource-Policy": "same-origin" });
    let file = modelDir && path.startsWith("/models/") ? inside(modelDir, path.slice(7)) : inside(rootDir, path);
    try { if (file && statSync(file).isDirectory()) file = join(file, "index.html"); } catch { /* 404 below */ }
    let st = null;
    try { st = file && statSync(file); } catch { st = null; }
    if (!st?.isFile()) { res.writeHead(404, { ...headers, "content-type": "text/plain" }); res.end("not found"); return; }
    res.writeHead(200, { ...headers, "content-type": TYPES[extname(file)] ?? "application/octet-stream", "content-length": String(st.size) });
    if (req.method === "HEAD") res.end(); else createReadStream(file).pipe(res);
  });
  return new Promise((ok, fail) => {
    server.once("error", fail);
    server.listen(port, "127.0.0.1", () => ok({
      origin: `http://127.0.0.1:${server.address().port}`, requests,
      close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
    }));
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const arg = (n, d) => { const k = process.argv.indexOf(n); return k > 0 ? process.argv[k + 1] : d; };
  const root = arg("--root", join(dirname(fileURLToPath(import.meta.url)), "..", "build", "demo"));
  const a = await startDemoServer({ root, isolated: true, port: Number(arg("--port", 8080)) });
  const b = await startDemoServer({ root, isolated: false, port: Number(arg("--plain-port", 8081)) });
  console.log(`Needlepoint demo (Ctrl-C stops it):\n  ${a.origin}/   threads: COOP/COEP headers, mt build\n` +
              `  ${b.origin}/   no isolation headers: the single-thread st build`);
}
