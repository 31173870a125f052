// synth.ts — training examples from a tool list and a few examples, in the page (for
// ToolCaller.finetune): the data factory's realisation ideas (docs/data.md) applied to the
// app's own tools. Each seed example is varied by
//   - slot values: an argument whose value is written in the query is swapped, in the query
//     and in the call together (so the answer stays grounded), for another value of the same
//     kind: another enum value, another number, or a value from the factory's lists (people,
//     cities, dates, times, topics, ...) chosen from the parameter's name and description,
//     or else a value another seed gives the same parameter;
//   - phrasing: the factory's prefixes, suffixes, wrappers and context sentences, lower case;
//   - the tool list: shuffled, sometimes without some of the tools that are not called;
// and about 10% of the output are no-call examples (the factory's chit-chat, answer []).
// Deterministic for a seed. The word lists come from data/factory/common.json
// (synth-content.ts, rewritten from it by tools/build-wasm.sh).
import { InvalidInputError } from "./errors.js";
import { SYNTH_CONTENT } from "./synth-content.js";
import type { FunctionCall, Tool, TrainingExample } from "./types.js";

export interface SynthesizeOptions {
  /** Examples to produce (default 200), the seeds' own rewordings included. */
  count?: number;
  /** Share of no-call examples (default 0.1). */
  noCallShare?: number;
  seed?: number;
}

/** A small seeded generator (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Json = Record<string, unknown>;

/** name -> {type, enum, description} for every parameter of every tool, in any shape. */
function paramSpecs(tools: Tool[]): Map<string, Map<string, Json>> {
  const out = new Map<string, Map<string, Json>>();
  for (const raw of tools) {
    const t = (raw.type === "function" && raw.function && typeof raw.function === "object" ? raw.function : raw) as Json;
    const params = (t.input_schema ?? t.parameters ?? {}) as Json;
    const props = (params.type === "object" || params.properties ? params.properties ?? {} : params) as Record<string, Json>;
    const m = new Map<string, Json>();
    for (const [k, v] of Object.entries(props)) if (v && typeof v === "object") m.set(k, v);
    out.set(String(t.name), m);
  }
  return out;
}

const KIND_WORDS: [string, RegExp][] = [
  ["person", /\b(name|contact|person|recipient|to|from_person|who|friend|attendee|guest|caller|user)\b/i],
  ["city", /\b(city|location|place|destination|origin|address|town|where)\b/i],
  ["country", /\bcountry\b/i],
  ["language", /\b(language|lang|locale)\b/i],
  ["date", /\b(date|day|when)\b/i],
  ["time", /\b(time|hour|clock)\b/i],
  ["artist_any", /\b(artist|band|singer|musician)\b/i],
  ["book", /\b(book|title)\b/i],
  ["food", /\b(food|dish|meal|order)\b/i],
  ["topic", /\b(topic|subject|about|text|message|note|body|query|search)\b/i],
  ["thing", /\b(item|thing|object|product)\b/i],
];

// Names the lists do not cover (a song is not a book title): kept as they are.
const KEEP = /\b(song|track|album|playlist|url|link|id|code|email|phone|number)\b/i;

function slotKind(param: string, spec: Json): string | null {
  const words = `${param.replace(/[_\-.]/g, " ")} ${String(spec.description ?? "")}`;
  if (KEEP.test(words)) return null;
  for (const [kind, re] of KIND_WORDS) if (re.test(words) && Array.isArray(SYNTH_CONTENT.slots[kind])) return kind;
  return null;
}

/** Where `value` is written in `query` (case-insensitive, as a whole word), or -1. */
function findValue(query: string, value: string): number {
  if (!value) return -1;
  const q = query.toLowerCase(), v = value.toLowerCase();
  for (let i = q.indexOf(v); i >= 0; i = q.indexOf(v, i + 1)) {
    const before = i === 0 ? " " : q[i - 1], after = i + v.length >= q.length ? " " : q[i + v.length];
    if (!/[\p{L}\p{N}]/u.test(before) && !/[\p{L}\p{N}]/u.test(after)) return i;
  }
  return -1;
}

function pick<T>(r: () => number, list: readonly T[]): T { return list[Math.floor(r() * list.length)]; }

/** Another value of the parameter's kind (string form for the query, typed for the call);
 * `pool`: the values the seeds give this parameter, used when no list fits. */
function otherValue(r: () => number, spec: Json, param: string, current: unknown, pool: unknown[]): unknown {
  const type = String(spec.type ?? (typeof current === "number" ? "number" : "string"));
  if (Array.isArray(spec.enum) && spec.enum.length > 1) {
    const others = spec.enum.filter((v) => v !== current);
    return pick(r, others);
  }
  if (type === "integer" || (type === "number" && Number.isInteger(current))) {
    const c = typeof current === "number" ? current : 10;
    return 1 + Math.floor(r() * Math.max(10, Math.abs(c) * 2));
  }
  if (type === "number") return Math.round((r() * Math.max(10, Math.abs(Number(current) || 10) * 2)) * 10) / 10;
  if (type === "string") {
    const kind = slotKind(param, spec);
    const list = kind ? SYNTH_CONTENT.slots[kind] : null;
    if (Array.isArray(list) && list.length > 1) {
      const others = list.filter((v) => String(v).toLowerCase() !== String(current).toLowerCase());
      return String(pick(r, others));
    }
    const others = pool.filter((v) => typeof v === "string" && v.toLowerCase() !== String(current).toLowerCase());
    if (others.length) return pick(r, others);
  }
  return undefined;   // booleans, objects, unknown kinds with one seed value: kept
}

function decorate(r: () => number, q: string): string {
  const c = SYNTH_CONTENT;
  const x = r();
  if (x < 0.2 && c.wrappers.length) return pick(r, c.wrappers).replace("{q}", q.replace(/[.?!]+$/, "").replace(/^./, (s) => s.toLowerCase()));
  if (x < 0.35 && c.prefixes.length) return pick(r, c.prefixes) + q.replace(/^./, (s) => s.toLowerCase());
  if (x < 0.5 && c.suffixes.length) return q.replace(/[.?!]+$/, "") + pick(r, c.suffixes);
  if (x < 0.6 && c.context_before.length) return `${pick(r, c.context_before)} ${q}`;
  if (x < 0.7) return q.toLowerCase();
  return q;
}

function varyTools(r: () => number, tools: Tool[], called: Set<string>): Tool[] {
  const name = (t: Tool) => String(((t.type === "function" && t.function ? t.function : t) as Json).name);
  let list = tools.filter((t) => called.has(name(t)) || r() > 0.3);
  if (list.length === 0) list = [...tools];
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [list[i], list[j]] = [list[j], list[i]];
  }
  return list;
}

/**
 * Varied training examples for `tools` from a few `seeds` (each a query with the calls it
 * should give). Every produced call names a tool of the list and every swapped value is
 * written in its query.
 * @throws {InvalidInputError} no tools, no seeds, a seed calling a tool not in the list
 * @example
 *   const examples = synthesizeExamples(tools, [{ query: "Turn on the kitchen lights",
 *     answers: [{ name: "set_lights", arguments: { room: "kitchen", on: true } }] }], { count: 200 });
 *   await tc.finetune({ examples });
 */
export function synthesizeExamples(tools: Tool[], seeds: { query: string; answers: FunctionCall[] }[],
                                   options: SynthesizeOptions = {}): TrainingExample[] {
  if (!Array.isArray(tools) || tools.length === 0) throw new InvalidInputError("synthesizeExamples needs a non-empty tool list");
  if (!Array.isArray(seeds) || seeds.length === 0) throw new InvalidInputError("synthesizeExamples needs at least one example");
  const count = options.count ?? 200;
  if (!Number.isInteger(count) || count < 1 || count > 100000) throw new InvalidInputError("count must be an integer from 1 to 100000");
  const noCallShare = options.noCallShare ?? 0.1;
  if (!(noCallShare >= 0 && noCallShare < 1)) throw new InvalidInputError("noCallShare must be in [0, 1)");
  const specs = paramSpecs(tools);
  seeds.forEach((s, i) => {
    if (!s || typeof s.query !== "string" || !s.query || !Array.isArray(s.answers)) {
      throw new InvalidInputError(`seeds[${i}] needs a query and answers (a list of calls)`);
    }
    for (const c of s.answers) {
      if (!c || !specs.has(c.name)) throw new InvalidInputError(`seeds[${i}] calls "${c?.name}", which is not in the tool list`);
    }
  });
  const r = rng(options.seed ?? 1);
  const pools = new Map<string, unknown[]>();   // "tool\u0000param" -> the seeds' values
  for (const s of seeds) {
    for (const c of s.answers) {
      for (const [k, v] of Object.entries(c.arguments ?? {})) {
        const key = c.name + "\u0000" + k;
        if (!pools.has(key)) pools.set(key, []);
        if (!pools.get(key)!.includes(v)) pools.get(key)!.push(v);
      }
    }
  }
  const out: TrainingExample[] = [];
  const seen = new Set<string>();
  const noCalls = Math.round(count * noCallShare);
  for (let attempts = 0; out.length < count - noCalls && attempts < count * 20; attempts++) {
    const seed = seeds[attempts % seeds.length];
    let query = seed.query;
    const answers: FunctionCall[] = seed.answers.map((c) => ({ name: c.name, arguments: { ...c.arguments } }));
    if (attempts >= seeds.length) {   // the seeds themselves first, unchanged
      for (const call of answers) {
        for (const [param, value] of Object.entries(call.arguments)) {
          if (value === null || typeof value === "object" || typeof value === "boolean") continue;
          const at = findValue(query, String(value));
          if (at < 0) continue;
          const next = otherValue(r, specs.get(call.name)?.get(param) ?? {}, param, value,
                                  pools.get(call.name + "\u0000" + param) ?? []);
          if (next === undefined) continue;
          query = query.slice(0, at) + String(next) + query.slice(at + String(value).length);
          call.arguments[param] = next;
        }
      }
      query = decorate(r, query);
    }
    const key = query + "\u0000" + JSON.stringify(answers);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ query, tools: varyTools(r, tools, new Set(answers.map((c) => c.name))), answers });
  }
  const chat = SYNTH_CONTENT.no_call;
  for (let i = 0; i < noCalls && chat.length; i++) out.push({ query: decorate(r, pick(r, chat)), tools: varyTools(r, tools, new Set()), answers: [] });
  for (let i = out.length - 1; i > 0; i--) {   // no-call examples spread through the set
    const j = Math.floor(r() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}
