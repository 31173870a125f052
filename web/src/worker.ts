// worker.ts — the dedicated Worker that hosts an in-thread engine for worker-proxy.ts
// (exports "needlepoint/worker"). Requests run one at a time, in arrival order; a call's
// abort flag (a SharedArrayBuffer, when the page is cross-origin isolated) is polled on
// every token.
import { browserPlatform } from "./browser-platform.js";
import { createInThread } from "./create.js";
import type { InThreadEngine } from "./engine.js";
import { DisposedError, errorToWire } from "./errors.js";
import type { Reply, Request } from "./protocol.js";

declare const self: { onmessage: ((ev: MessageEvent<Request>) => void) | null; postMessage(m: Reply): void };

let engine: InThreadEngine | null = null;
let queue: Promise<void> = Promise.resolve();

async function handle(req: Request): Promise<void> {
  const post = (m: Reply) => self.postMessage(m);
  try {
    switch (req.type) {
      case "create": {
        engine = await createInThread(browserPlatform, req.build,
          { model: req.model, threads: req.threads, cache: req.cache,
            onProgress: (event) => post({ type: "progress", id: req.id, event }) }, true);
        post({ type: "ready", id: req.id, build: engine.build, threads: engine.threads, model: engine.model });
        return;
      }
      case "call": {
        if (!engine) throw new DisposedError();
        const flag = req.abortFlag ? new Int32Array(req.abortFlag) : null;
        const value = await engine.call(req.query, req.tools, {
          maxTokens: req.maxTokens, constrained: req.constrained,
          onToken: req.wantTokens ? (token) => post({ type: "token", id: req.id, token }) : undefined,
          shouldStop: flag ? () => Atomics.load(flag, 0) !== 0 : undefined,
        });
        post({ type: "result", id: req.id, value });
        return;
      }
      case "tokenize": {
        if (!engine) throw new DisposedError();
        post({ type: "result", id: req.id, value: await engine.tokenize(req.text) });
        return;
      }
      case "dispose": {
        await engine?.dispose();
        engine = null;
        post({ type: "result", id: req.id, value: null });
        return;
      }
    }
  } catch (e) {
    post({ type: "error", id: req.id, error: errorToWire(e) });
  }
}

self.onmessage = (ev: MessageEvent<Request>) => {
  queue = queue.then(() => handle(ev.data));
};
