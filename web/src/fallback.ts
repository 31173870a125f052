// fallback.ts — the hand-off: when the local answer is not good enough (low confidence, a
// call cut off by the token budget, an input cut to fit the context), the call goes to a
// fallback the app provides (e.g. a cloud LLM) and the result says who answered. Runs on the
// caller's side of the Worker boundary (functions do not cross it). Also the recipe for an
// OpenAI-compatible chat-completions endpoint (docs/confidence.md).
import { AbortError, InvalidInputError } from "./errors.js";
import type { CallOptions, CallResult, CreateOptions, Fallback, FunctionCall, HandoffReason, Tool } from "./types.js";

/** The confidence threshold when none is set (chosen on the dev split, docs/confidence.md). */
export const DEFAULT_CONFIDENCE_THRESHOLD = 0.5;

export type FallbackSettings = Pick<CreateOptions, "fallback" | "confidenceThreshold" | "fallbackWhen">;

/** The built-in rule: a dropped call, a cut input, then a confidence under the threshold. */
export function defaultHandoffReason(r: CallResult, threshold: number): HandoffReason | null {
  if (r.droppedCalls > 0) return "incomplete";
  if (r.truncated) return "truncated";
  if (r.confidence < threshold) return "low-confidence";
  return null;
}

function checkThreshold(t: unknown): number {
  if (typeof t !== "number" || !Number.isFinite(t) || t < 0 || t > 1) {
    throw new InvalidInputError("confidenceThreshold must be a number in [0, 1]");
  }
  return t;
}

/** Validates the fallback-related options before the call runs. */
export function checkFallbackOptions(settings: FallbackSettings, options: CallOptions): void {
  const fb = options.fallback ?? settings.fallback;
  if (fb !== undefined && typeof fb !== "function") throw new InvalidInputError("fallback must be a function");
  const t = options.confidenceThreshold ?? settings.confidenceThreshold;
  if (t !== undefined) checkThreshold(t);
}

/** The tool names a list offers, in any accepted shape. */
function offeredNames(tools: Tool[] | string): Set<string> {
  let list: unknown = tools;
  if (typeof tools === "string") {
    try { list = JSON.parse(tools); } catch { list = []; }
  }
  const names = new Set<string>();
  if (Array.isArray(list)) {
    for (const t of list as Record<string, unknown>[]) {
      const fn = t && typeof t === "object" && t.function && typeof t.function === "object" ? t.function as Record<string, unknown> : t;
      if (fn && typeof fn.name === "string") names.add(fn.name);
    }
  }
  return names;
}

function checkCalls(calls: unknown, tools: Tool[] | string): FunctionCall[] {
  if (!Array.isArray(calls)) throw new Error("the fallback did not return an array of calls");
  const names = offeredNames(tools);
  return calls.map((c, i) => {
    const call = c as { name?: unknown; arguments?: unknown };
    if (!call || typeof call.name !== "string") throw new Error(`fallback call ${i} has no name`);
    if (!names.has(call.name)) throw new Error(`the fallback called "${call.name}", which is not one of the tools offered`);
    const args = call.arguments ?? {};
    if (typeof args !== "object" || Array.isArray(args) || args === null) throw new Error(`fallback call ${i}: arguments must be an object`);
    return { name: call.name, arguments: args as Record<string, unknown> };
  });
}

/** Hands the call off when the rule says so; the local answer stands when there is no
 * fallback, the rule keeps it, or the fallback fails (the failure is in `handoff.error`). */
export async function withFallback(local: CallResult, query: string, tools: Tool[] | string,
                                   settings: FallbackSettings, options: CallOptions): Promise<CallResult> {
  const fallback = options.fallback ?? settings.fallback;
  if (!fallback) return local;
  const threshold = checkThreshold(options.confidenceThreshold ?? settings.confidenceThreshold ?? DEFAULT_CONFIDENCE_THRESHOLD);
  const reason = (settings.fallbackWhen ?? defaultHandoffReason)(local, threshold);
  if (!reason) return local;
  const handoff = { reason, localCalls: local.calls, localConfidence: local.confidence };
  try {
    const calls = checkCalls(await fallback(query, tools, { reason, local, signal: options.signal }), tools);
    return { ...local, calls, callConfidence: [], source: "fallback", handoff };
  } catch (e) {
    if (options.signal?.aborted) throw new AbortError("the call was aborted during the hand-off");
    return { ...local, handoff: { ...handoff, error: e instanceof Error ? e.message : String(e) } };
  }
}

// ---- the OpenAI-compatible recipe ---------------------------------------------------------

export interface OpenAIFallbackOptions {
  /** Base URL of the API, e.g. "https://api.openai.com/v1" or "http://127.0.0.1:8080/v1". */
  baseUrl: string;
  /** Model name sent as `model`. */
  model: string;
  /** Sent as `Authorization: Bearer <apiKey>` when given. */
  apiKey?: string;
  headers?: Record<string, string>;
  /** System message (default: a short instruction to call the tools). */
  system?: string;
  /** fetch to use (default: globalThis.fetch). */
  fetch?: typeof fetch;
}

type JsonObject = Record<string, unknown>;

/** A tool in any accepted shape as an OpenAI `tools` entry ({type: "function", function}). */
export function toOpenAITool(tool: Tool): JsonObject {
  const t = tool as JsonObject;
  if (t.type === "function" && t.function && typeof t.function === "object") return t;
  if (t.type === "function" && typeof t.name === "string") {  // Responses-API form
    return { type: "function", function: { name: t.name, description: t.description ?? "", parameters: t.parameters ?? { type: "object", properties: {} } } };
  }
  const fn: JsonObject = { name: t.name, description: t.description ?? "" };
  const params = (t.input_schema ?? t.parameters ?? {}) as JsonObject;
  if (params.type === "object" || params.properties) {
    fn.parameters = params;
  } else {
    // Needle's flat shape: {p: {type, description, required, enum}} -> JSON Schema.
    const properties: JsonObject = {};
    const required: string[] = [];
    for (const [name, spec] of Object.entries(params)) {
      const s = { ...(spec as JsonObject) };
      if (s.required === true) required.push(name);
      delete s.required;
      properties[name] = s;
    }
    fn.parameters = { type: "object", properties, required };
  }
  return { type: "function", function: fn };
}

/**
 * A Fallback that asks an OpenAI-compatible chat-completions endpoint (OpenAI, a local
 * llama.cpp server, Ollama, vLLM ...) with the same tools, and returns its tool calls.
 * @example
 *   const tc = await createToolCaller({ fallback: openAICompatibleFallback({ baseUrl: "http://127.0.0.1:8080/v1", model: "qwen" }) });
 */
export function openAICompatibleFallback(o: OpenAIFallbackOptions): Fallback {
  if (!o || typeof o.baseUrl !== "string" || typeof o.model !== "string") {
    throw new InvalidInputError("openAICompatibleFallback needs { baseUrl, model }");
  }
  const url = o.baseUrl.replace(/\/+$/, "") + "/chat/completions";
  return async (query, tools, context) => {
    const list = (typeof tools === "string" ? JSON.parse(tools) : tools) as Tool[];
    const headers: Record<string, string> = { "content-type": "application/json", ...(o.headers ?? {}) };
    if (o.apiKey) headers.authorization = `Bearer ${o.apiKey}`;
    const res = await (o.fetch ?? fetch)(url, {
      method: "POST", headers, signal: context.signal,
      body: JSON.stringify({
        model: o.model,
        messages: [
          { role: "system", content: o.system ?? "Answer by calling the tools that fulfil the user's request; call none if no tool fits." },
          { role: "user", content: query },
        ],
        tools: list.map(toOpenAITool),
        tool_choice: "auto",
      }),
    });
    if (!res.ok) throw new Error(`the fallback endpoint answered HTTP ${res.status}`);
    const body = await res.json() as { choices?: { message?: { tool_calls?: { function?: { name?: string; arguments?: string } }[] } }[] };
    const calls = body.choices?.[0]?.message?.tool_calls ?? [];
    return calls.map((c) => {
      let args: unknown = {};
      try { args = JSON.parse(c.function?.arguments || "{}"); } catch { throw new Error("the fallback's arguments are not JSON"); }
      return { name: String(c.function?.name ?? ""), arguments: args as Record<string, unknown> };
    });
  };
}
