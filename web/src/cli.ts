#!/usr/bin/env node
// cli.ts — the package's `needlepoint` command (Node):
//   needlepoint "turn on the lights" --tools tools.json [--model m.gguf] [--max-tokens N]
//               [--threads N] [--build mt|st] [--no-constrain] [--stream]
// Prints the call result as JSON. Exit status: 0 ok, 1 engine error (code on stderr), 2 usage.
import { readFile } from "node:fs/promises";
import { createToolCaller, NeedlepointError } from "./node.js";
import type { Build } from "./types.js";

const USAGE = `usage: needlepoint "request" --tools tools.json|JSON [--model file.gguf|URL] [--max-tokens N]
                   [--threads N] [--build mt|st] [--no-constrain] [--stream]`;

function usage(message: string): never {
  process.stderr.write(`error: ${message}\n${USAGE}\n`);
  process.exit(2);
}

async function main(argv: string[]): Promise<number> {
  let query: string | undefined, tools: string | undefined, model: string | undefined;
  let maxTokens: number | undefined, threads: number | undefined, build: Build | undefined;
  let constrained = true, stream = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`));
    if (a === "--tools") tools = next();
    else if (a === "--model") model = next();
    else if (a === "--max-tokens") maxTokens = Number(next());
    else if (a === "--threads") threads = Number(next());
    else if (a === "--build") build = next() as Build;
    else if (a === "--no-constrain") constrained = false;
    else if (a === "--stream") stream = true;
    else if (a === "--help" || a === "-h") { process.stdout.write(USAGE + "\n"); return 0; }
    else if (a.startsWith("--")) usage(`unknown option ${a}`);
    else if (query === undefined) query = a;
    else usage(`unexpected argument ${a}`);
  }
  if (query === undefined) usage("the request is missing");
  if (tools === undefined) usage("--tools is required");
  if (build !== undefined && build !== "mt" && build !== "st") usage("--build must be mt or st");
  const toolsText = tools.trimStart().startsWith("[") || tools.trimStart().startsWith("{")
    ? tools : await readFile(tools, "utf8").catch(() => usage(`cannot read ${tools}`));
  const tc = await createToolCaller({ model, threads, build });
  try {
    const r = await tc.call(query, toolsText, {
      maxTokens, constrained,
      onToken: stream ? (t) => process.stderr.write(t.text) : undefined,
    });
    if (stream) process.stderr.write("\n");
    process.stdout.write(JSON.stringify(r) + "\n");
    return 0;
  } finally {
    await tc.dispose();
  }
}

main(process.argv.slice(2)).then((code) => process.exit(code), (e) => {
  if (e instanceof NeedlepointError) process.stderr.write(`error: ${e.code}: ${e.message}\n`);
  else process.stderr.write(`error: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
