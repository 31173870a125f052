// finetune.ts — the options and data side of in-tab fine-tuning: examples to Needle JSONL,
// option checks and defaults, the step budget. The step loop that drives the engine lives
// in engine.ts (InThreadEngine.finetune); the Worker proxy forwards to it (docs/finetune.md).
import { InvalidInputError } from "./errors.js";
import type { FinetuneOptions, TrainingExample } from "./types.js";

export interface FinetunePlan {
  jsonl: string;
  examples: number;
  config: { steps: number; batch: number; lr?: number; loraRank: number; loraAlpha: number; seed: number;
            validationFraction: number };
  type: "f32" | "f16" | "q8_0" | "q4_0";
  evaluate: boolean;
}

function intOption(v: unknown, name: string, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new InvalidInputError(`${name} must be an integer from ${min} to ${max}`);
  }
  return v;
}

function numberOption(v: unknown, name: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v) || v < min || v > max) {
    throw new InvalidInputError(`${name} must be a number from ${min} to ${max}`);
  }
  return v;
}

/** One example as a Needle JSONL line. @throws {InvalidInputError} naming the example */
function exampleLine(e: TrainingExample, i: number): string {
  if (!e || typeof e !== "object") throw new InvalidInputError(`examples[${i}] is not an object`);
  if (typeof e.query !== "string" || e.query === "") throw new InvalidInputError(`examples[${i}].query must be a non-empty string`);
  const parse = (v: unknown, field: string) => {
    if (typeof v !== "string") return v;
    try { return JSON.parse(v); } catch { throw new InvalidInputError(`examples[${i}].${field} is not valid JSON`); }
  };
  const tools = parse(e.tools, "tools"), answers = parse(e.answers, "answers");
  if (!Array.isArray(tools)) throw new InvalidInputError(`examples[${i}].tools must be a list of tools`);
  if (!Array.isArray(answers)) throw new InvalidInputError(`examples[${i}].answers must be a list of calls`);
  return JSON.stringify({ query: e.query, tools, answers });
}

/** Checks the options and turns them into what the engine takes. */
export function planFinetune(o: FinetuneOptions): FinetunePlan {
  if (!o || typeof o !== "object") throw new InvalidInputError("finetune needs options with examples");
  let jsonl: string, examples: number;
  if (typeof o.examples === "string") {
    jsonl = o.examples;
    examples = jsonl.split("\n").filter((l) => l.trim() !== "").length;
  } else if (Array.isArray(o.examples)) {
    const lines = o.examples.map(exampleLine);
    jsonl = lines.join("\n") + "\n";
    examples = lines.length;
  } else {
    throw new InvalidInputError("examples must be a list of examples or JSONL text");
  }
  if (examples < 2) throw new InvalidInputError("fine-tuning needs at least 2 examples");
  const batch = intOption(o.batch, "batch", 8, 1, 256);
  const validationFraction = numberOption(o.validationSplit, "validationSplit", 0, 0.9) ?? 0.2;
  const epochs = intOption(o.epochs, "epochs", 4, 1, 10000);
  const trainShare = Math.max(1, Math.round(examples * (1 - validationFraction)));
  const steps = intOption(o.steps, "steps", Math.max(100, epochs * Math.ceil(trainShare / batch)), 1, 1000000);
  const type = o.type ?? "q8_0";
  if (!["f32", "f16", "q8_0", "q4_0"].includes(type)) throw new InvalidInputError('type must be "f32", "f16", "q8_0" or "q4_0"');
  return {
    jsonl, examples, type, evaluate: o.evaluate !== false && validationFraction > 0,
    config: {
      steps, batch, lr: numberOption(o.learningRate, "learningRate", 0, 10),
      loraRank: intOption(o.loraRank, "loraRank", 8, 0, 256), loraAlpha: numberOption(o.loraAlpha, "loraAlpha", 0, 10000) ?? 16,
      seed: intOption(o.seed, "seed", 1, 0, 2 ** 31), validationFraction,
    },
  };
}
