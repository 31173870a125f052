// A Cloudflare-style worker for the workerd suite: imports the package's edge entry by
// name (bundled with esbuild under the "workerd" condition, as wrangler does), loads the
// model embedded as a data module, and answers POST {query, tools, maxTokens, constrained}.
// GET reports the engine (with its memory bound); GET ?limit=N tries a second engine whose
// memoryLimit is N bytes.
import { createToolCaller, NeedlepointError } from "needlepoint";
import modelBytes from "./model.gguf";

let engine = null;

export default {
  async fetch(request) {
    try {
      const limit = new URL(request.url).searchParams.get("limit");
      if (limit) {
        const small = await createToolCaller({ model: new Uint8Array(modelBytes), memoryLimit: Number(limit) });
        const memory = await small.memory();
        await small.dispose();
        return Response.json({ loaded: true, memory });
      }
      engine ??= createToolCaller({ model: new Uint8Array(modelBytes) });
      const tc = await engine;
      if (request.method !== "POST") {
        return Response.json({ build: tc.build, threads: tc.threads, model: tc.model, memory: await tc.memory() });
      }
      const { query, tools, maxTokens, constrained } = await request.json();
      const r = await tc.call(query, tools, { maxTokens, constrained });
      return Response.json(r);
    } catch (e) {
      const body = e instanceof NeedlepointError ? { name: e.name, code: e.code, message: e.message }
                                                 : { name: "Error", code: "UNKNOWN", message: String(e) };
      return Response.json({ error: body }, { status: e instanceof NeedlepointError ? 400 : 500 });
    }
  },
};
