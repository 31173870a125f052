// server.mjs — a static HTTP server on 127.0.0.1 for the browser suite: /pkg/ serves
// npm/dist, /models/ a test directory, / a blank page. `isolated` adds COOP/COEP (and CORP)
// to every response, which makes the page cross-origin isolated; `csp` adds that
// Content-Security-Policy to every response; `pages` maps extra paths to [type, body].
import { createServer } from "node:http";
import { createReadStream, statSync } from "node:fs";
import { join, normalize, extname } from "node:path";

const TYPES = { ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm",
                ".html": "text/html", ".json": "application/json", ".gguf": "application/octet-stream" };

export function startServer({ pkgDir, modelsDir, isolated, csp, pages = {} }) {
  const requests = [];
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    requests.push(path);
    const headers = {};
    if (isolated) {
      headers["Cross-Origin-Opener-Policy"] = "same-origin";
      headers["Cross-Origin-Embedder-Policy"] = "require-corp";
      headers["Cross-Origin-Resource-Policy"] = "same-origin";
    }
    if (csp) headers["Content-Security-Policy"] = csp;
    let file = null;
    if (pages[path]) {
      res.writeHead(200, { ...headers, "content-type": pages[path][0] });
      res.end(pages[path][1]);
      return;
    }
    if (path === "/" || path === "/blank.html") {
      res.writeHead(200, { ...headers, "content-type": "text/html" });
      res.end("<!doctype html><title>needlepoint test</title>");
      return;
    }
    if (path.startsWith("/pkg/")) file = join(pkgDir, normalize(path.slice(5)));
    else if (path.startsWith("/models/")) file = join(modelsDir, normalize(path.slice(8)));
    let st = null;
    try { st = file && statSync(file); } catch { st = null; }
    if (!st || !st.isFile()) {
      res.writeHead(404, headers);
      res.end("not found");
      return;
    }
    res.writeHead(200, { ...headers, "content-type": TYPES[extname(file)] ?? "application/octet-stream",
                         "content-length": String(st.size), "cache-control": "no-store" });
    createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      resolve({ origin: `http://127.0.0.1:${server.address().port}`, requests, close: () => new Promise((r) => server.close(r)) });
    });
  });
}
