// worker.ts — the dedicated Worker that hosts an in-thread engine for worker-proxy.ts
// (exports "needlepoint/worker"). Requests run one at a time, in arrival order, with a turn
// of the event loop between them so that a "cancel" for a queued call is seen before that
// call starts (the call is then skipped); a running call's abort flag (a SharedArrayBuffer,
// when the page is cross-origin isolated) is polled on every token.
import { browserPlatform } from "./browser-platform.js";
import { createInThread } from "./create.js";
import type { InThreadEngine } from "./engine.js";
import { DisposedError, errorToWire } from "./errors.js";
import type { Reply, Request } from "./protocol.js";

declare const self: { onmessage: ((ev: MessageEvent<Request>) => void) | null; postMessage(m: Reply): void };

let engine: InThreadEngine | null = null;
const queue: Request[] = [];
const cancelled = new Set<number>();
const running = new Map<number, AbortController>();   // fine-tuning runs, stopped by "cancel"
let lastStarted = 0;
let draining = false;

async function handle(req: Request): Promise<void> {
  const post = (m: Reply) => self.postMessage(m);
  try {
    switch (req.type) {
      case "create": {
        engine = await createInThread(browserPlatform, req.build,
          { model: req.model, threads: req.threads, cache: req.cache, memoryLimit: req.memoryLimit,
            catalogCacheBytes: req.catalogCacheBytes, onProgress: (event) => post({ type: "progress", id: req.id, event }) }, true);
        post({ type: "ready", id: req.id, build: engine.build, threads: engine.threads, model: engine.model });
        return;
      }
      case "call": {
        if (!engine) throw new DisposedError();
        const flag = req.abortFlag ? new Int32Array(req.abortFlag) : null;
        const value = await engine.call(req.query, req.tools, {
          maxTokens: req.maxTokens, constrained: req.constrained, preselectAbove: req.preselectAbove, preselectK: req.preselectK,
          priors: req.priors, fullLogits: req.fullLogits,
          onToken: req.wantTokens ? (token) => post({ type: "token", id: req.id, token }) : undefined,
          shouldStop: flag ? () => Atomics.load(flag, 0) !== 0 : undefined,
        });
        post({ type: "result", id: req.id, value });
        return;
      }
      case "prepareTools": {
        if (!engine) throw new DisposedError();
        post({ type: "result", id: req.id, value: await engine.prepareTools(req.tools) });
        return;
      }
      case "retrieve": {
        if (!engine) throw new DisposedError();
        post({ type: "result", id: req.id, value: await engine.retrieve(req.query, req.tools, req.k) });
        return;
      }
      case "finetune": {
        if (!engine) throw new DisposedError();
        const ac = new AbortController();
        running.set(req.id, ac);
        try {
          const value = await engine.finetune({ ...req.options, signal: ac.signal,
            onProgress: req.wantProgress ? (progress) => post({ type: "finetune-progress", id: req.id, progress }) : undefined });
          (self as unknown as { postMessage(m: Reply, t: Transferable[]): void }).postMessage(
            { type: "result", id: req.id, value }, [value.model.buffer]);
        } finally {
          running.delete(req.id);
        }
        return;
      }
      case "load": {
        if (!engine) throw new DisposedError();
        post({ type: "result", id: req.id, value: await engine.loadModel(req.model as NonNullable<typeof req.model>) });
        return;
      }
      case "model-bytes": {
        if (!engine) throw new DisposedError();
        const bytes = await engine.modelBytes();
        (self as unknown as { postMessage(m: Reply, t: Transferable[]): void }).postMessage(
          { type: "result", id: req.id, value: bytes }, [bytes.buffer]);
        return;
      }
      case "memory": {
        if (!engine) throw new DisposedError();
        post({ type: "result", id: req.id, value: await engine.memory() });
        return;
      }
      case "cancel": return;   // handled in onmessage
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

/** Lets queued message events (cancels) run: a MessageChannel round trip, no timer clamp. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => { ch.port1.close(); resolve(); };
    ch.port2.postMessage(0);
  });
}

async function drain(): Promise<void> {
  if (draining) return;
  draining = true;
  try {
    for (let req = queue.shift(); req; req = queue.shift()) {
      lastStarted = req.id;
      if (cancelled.delete(req.id)) continue;
      await handle(req);
      await nextTurn();
    }
  } finally {
    draining = false;
  }
}

self.onmessage = (ev: MessageEvent<Request>) => {
  const req = ev.data;
  if (req.type === "cancel") {
    running.get(req.id)?.abort();                      // a fine-tuning run stops between chunks
    if (req.id > lastStarted) cancelled.add(req.id);   // ids rise: older ones already ran
    return;
  }
  queue.push(req);
  void drain();
};
