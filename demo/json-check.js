// json-check.js — strict JSON validation that says where it broke (line and column), so the
// tools editor can point at the error the same way in every browser (engines word and
// locate JSON.parse errors differently). Validation only; the value comes from JSON.parse.
//   checkJson('[1, 2]')      -> { ok: true, value: [1, 2] }
//   checkJson('[1,\n 2,]')   -> { ok: false, line: 2, column: 4, offset: 7, message: "expected a value, found ']'" }

export function checkJson(text) {
  let i = 0;
  const fail = (message) => { throw Object.assign(new Error(message), { offset: i }); };
  const show = () => (i >= text.length ? "the end of the text" : `'${text[i]}'`);
  const ws = () => { while (i < text.length && " \t\r\n".includes(text[i])) i++; };
  const expect = (ch, what) => { ws(); if (text[i] !== ch) fail(`expected ${what}, found ${show()}`); i++; };
  function string() {
    i++; // opening quote
    for (;;) {
      if (i >= text.length) fail("unterminated string");
      const c = text[i];
      if (c === '"') { i++; return; }
      if (c === "\\") {
        i++;
        if (text[i] === "u") { if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) fail("bad \\u escape"); i += 5; }
        else if ('"\\/bfnrt'.includes(text[i])) i++;
        else fail(`bad escape \\${text[i] ?? ""}`);
      } else if (c < " ") fail("control character in a string (use \\n)");
      else i++;
    }
  }
  function value() {
    ws();
    const c = text[i];
    if (c === "{") {
      i++; ws();
      if (text[i] === "}") { i++; return; }
      for (;;) {
        ws();
        if (text[i] !== '"') fail(`expected a property name in double quotes, found ${show()}`);
        string();
        expect(":", "':' after the property name");
        value(); ws();
        if (text[i] === ",") { i++; continue; }
        if (text[i] === "}") { i++; return; }
        fail(`expected ',' or '}' after a property value, found ${show()}`);
      }
    }
    if (c === "[") {
      i++; ws();
      if (text[i] === "]") { i++; return; }
      for (;;) {
        value(); ws();
        if (text[i] === ",") { i++; continue; }
        if (text[i] === "]") { i++; return; }
        fail(`expected ',' or ']' after an array element, found ${show()}`);
      }
    }
    if (c === '"') return string();
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (m && m[0].length) { i += m[0].length; return; }
    for (const lit of ["true", "false", "null"]) if (text.startsWith(lit, i)) { i += lit.length; return; }
    fail(`expected a value, found ${show()}`);
  }
  try {
    value(); ws();
    if (i < text.length) fail(`unexpected ${show()} after the end of the JSON value`);
  } catch (e) {
    const before = text.slice(0, e.offset);
    const line = before.split("\n").length;
    const column = e.offset - before.lastIndexOf("\n");
    return { ok: false, line, column, offset: e.offset, message: e.message };
  }
  return { ok: true, value: JSON.parse(text) };
}

/** The editor's extra checks: a non-empty array of objects with a name (or OpenAI's function.name). */
export function checkTools(text) {
  const r = checkJson(text);
  if (!r.ok) return r;
  const at = (offset, message) => {
    const before = text.slice(0, offset);
    return { ok: false, line: before.split("\n").length, column: offset - before.lastIndexOf("\n"), offset, message };
  };
  if (!Array.isArray(r.value)) return at(text.search(/\S/), "the tools must be a JSON array");
  if (r.value.length === 0) return at(text.search(/\S/), "the tools array is empty");
  for (const [k, t] of r.value.entries()) {
    const name = t && typeof t === "object" ? (t.function && typeof t.function === "object" ? t.function.name : t.name) : undefined;
    if (typeof name !== "string" || !name) return at(Math.max(0, text.search(/\S/)), `tool ${k + 1} has no "name"`);
  }
  return r;
}
