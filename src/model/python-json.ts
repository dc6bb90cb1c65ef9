// JSON text exactly as Python's json.dumps(obj, indent=2, sort_keys=True) writes it (PEFT's adapter_config.json,
// transformers' trainer_state.json): sorted keys, ", "-free separators with indent, ASCII-only output with \uXXXX
// escapes, and Python's float repr ("0.0", "2e-05", "1e+16") for values the caller marks as floats. Lives in
// src/model beside the PEFT adapter format that needs it; src/train uses it for trainer_state.json. Also Python's repr()
// of floats and bytes, which src/mschema (sample values) and src/eval (result comparison) print as Python does.

/** Python's repr() of a float. */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return "nan";
  if (x === Infinity) return "inf";
  if (x === -Infinity) return "-inf";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const sign = x < 0 ? "-" : "";
  // toExponential() with no argument gives the shortest digits that round-trip, as Python's repr does.
  const m = /^(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(Math.abs(x).toExponential());
  if (!m) throw new Error(`cannot format float ${x}`);
  const digits = m[1] + (m[2] ?? "");
  const exp = Number(m[3]);
  const decpt = exp + 1;
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) return `${sign}0.${"0".repeat(-decpt)}${digits}`;
    if (decpt >= digits.length) return `${sign}${digits}${"0".repeat(decpt - digits.length)}.0`;
    return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
  }
  const mant = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  const e = Math.abs(exp);
  return `${sign}${mant}e${exp < 0 ? "-" : "+"}${e < 10 ? "0" : ""}${e}`;
}

/** Python's repr() of a bytes value. */
export function pyBytesRepr(buf: Uint8Array): string {
  let body = "";
  let hasSingle = false;
  let hasDouble = false;
  for (const b of buf) {
    if (b === 0x27) hasSingle = true;
    if (b === 0x22) hasDouble = true;
  }
  const quote = hasSingle && !hasDouble ? '"' : "'";
  for (const b of buf) {
    if (b === 0x5c) body += "\\\\";
    else if (b === 0x09) body += "\\t";
    else if (b === 0x0a) body += "\\n";
    else if (b === 0x0d) body += "\\r";
    else if (b === quote.charCodeAt(0)) body += `\\${quote}`;
    else if (b < 0x20 || b >= 0x7f) body += `\\x${b.toString(16).padStart(2, "0")}`;
    else body += String.fromCharCode(b);
  }
  return `b${quote}${body}${quote}`;
}

/**
 * A float as json.dumps writes it: Python's repr() (pyFloatRepr: 0 → "0.0", 0.00002 → "2e-05",
 * 1e16 → "1e+16"), except that non-finite values are JSON's NaN / Infinity / -Infinity.
 */
export function pythonFloatRepr(x: number): string {
  if (Number.isNaN(x)) return "NaN";
  if (x === Infinity) return "Infinity";
  if (x === -Infinity) return "-Infinity";
  return pyFloatRepr(x);
}

/** A number to be written as a Python float (even when integral). */
export class PyFloat {
  constructor(readonly value: number) {}
}

/** Marks a number as a Python float for `pythonJsonDumps`. */
export function pyFloat(x: number): PyFloat {
  return new PyFloat(x);
}

function escapeString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === "\\") out += "\\\\";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (ch === "\b") out += "\\b";
    else if (ch === "\f") out += "\\f";
    else if (c < 0x20 || (c >= 0x7f && c <= 0xffff)) out += `\\u${c.toString(16).padStart(4, "0")}`;
    else if (c > 0xffff) {
      const v = c - 0x10000;
      out += `\\u${(0xd800 + (v >> 10)).toString(16)}\\u${(0xdc00 + (v & 0x3ff)).toString(16)}`;
    } else out += ch;
  }
  return out + '"';
}

/**
 * json.dumps(value, indent=2, sort_keys=True). Plain numbers are written as Python ints when integral and as floats
 * otherwise; wrap a number in `pyFloat` to force float notation (Python's 0.0, 32.0).
 */
export function pythonJsonDumps(value: unknown, indent = 2, level = 0): string {
  const pad = (n: number) => " ".repeat(indent * n);
  if (value === null || value === undefined) return "null";
  if (value instanceof PyFloat) return pythonFloatRepr(value.value);
  if (typeof value === "number")
    return Number.isInteger(value) && Math.abs(value) < 1e16 ? String(value) : pythonFloatRepr(value);
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "string") return escapeString(value);
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    const items = value.map((v) => pad(level + 1) + pythonJsonDumps(v, indent, level + 1));
    return `[\n${items.join(",\n")}\n${pad(level)}]`;
  }
  if (typeof value === "object") {
    const keys = Object.keys(value as object)
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .sort(pythonKeyOrder);
    if (keys.length === 0) return "{}";
    const items = keys.map(
      (k) =>
        `${pad(level + 1)}${escapeString(k)}: ${pythonJsonDumps((value as Record<string, unknown>)[k], indent, level + 1)}`,
    );
    return `{\n${items.join(",\n")}\n${pad(level)}}`;
  }
  throw new TypeError(`cannot write ${typeof value} as JSON`);
}

/** Python sorts str keys by code point; JS's default sort compares UTF-16 units (differs only beyond the BMP). */
function pythonKeyOrder(a: string, b: string): number {
  const ca = [...a].map((c) => c.codePointAt(0)!);
  const cb = [...b].map((c) => c.codePointAt(0)!);
  for (let i = 0; i < Math.min(ca.length, cb.length); i++) if (ca[i] !== cb[i]) return ca[i] - cb[i];
  return ca.length - cb.length;
}
