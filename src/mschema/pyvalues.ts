// Values as Python prints them: the reference M-Schema tool (Python, SQLAlchemy) turns sample values into text with
// str(), so floats print as repr() ("3.0", "1e-05"), decimals as str(float(d)), booleans as True/False, bytes as b'…'.

import { pyBytesRepr, pyFloatRepr } from "../model/index.js";

export { pyBytesRepr, pyFloatRepr };

/** str(float(Decimal(text))): a decimal read as text (MySQL DECIMAL, PostgreSQL numeric) printed as the reference does. */
export function pyDecimalAsFloat(text: string): string {
  const t = text.trim();
  if (/^[+-]?nan$/i.test(t)) return "nan";
  if (/^[+-]?(inf|infinity)$/i.test(t)) return t.startsWith("-") ? "-inf" : "inf";
  const x = Number(t);
  if (Number.isNaN(x)) throw new Error(`not a decimal: ${text}`);
  return pyFloatRepr(x);
}

/** A sample value read from a database, tagged with the Python type the reference tool would have seen. */
export type PyValue =
  | { kind: "str"; value: string }
  | { kind: "int"; value: bigint | number }
  | { kind: "float"; value: number }
  /** decimal.Decimal, kept as its text. */
  | { kind: "decimal"; value: string }
  | { kind: "bool"; value: boolean }
  /** datetime.date / datetime.datetime, already as str() prints it. */
  | { kind: "date"; value: string }
  /** datetime.time / datetime.timedelta and other values whose str() is already known. */
  | { kind: "text"; value: string }
  | { kind: "bytes"; value: Uint8Array };

export function pyStr(v: PyValue): string {
  switch (v.kind) {
    case "str":
    case "date":
    case "text":
    case "decimal":
      return v.value;
    case "int":
      return typeof v.value === "bigint" ? v.value.toString() : String(v.value);
    case "float":
      return pyFloatRepr(v.value);
    case "bool":
      return v.value ? "True" : "False";
    case "bytes":
      return pyBytesRepr(v.value);
  }
}

// The reference tool's e-mail test: Python's re.match(r'^[\w\.-]+@[\w\.-]+\.\w+$', s) ($ also matches before a final "\n").
const EMAIL = /^[\p{L}\p{N}_.-]+@[\p{L}\p{N}_.-]+\.[\p{L}\p{N}_]+\n?$/u;

export function isEmail(s: string): boolean {
  return EMAIL.test(s);
}

/**
 * The reference tool's examples_to_str: the first date/datetime keeps only itself, decimals print as floats, any
 * e-mail address or URL empties the list; then everything becomes text and empty texts go.
 */
export function examplesToStrings(values: PyValue[]): string[] {
  let list: PyValue[] = values.slice();
  for (let i = 0; i < list.length; i++) {
    const v = list[i]!;
    if (v.kind === "date") {
      list = [v];
      break;
    } else if (v.kind === "decimal") {
      list[i] = { kind: "text", value: pyDecimalAsFloat(v.value) };
    } else {
      const s = pyStr(v);
      if (isEmail(s) || s.includes("http://") || s.includes("https://")) {
        list = [];
        break;
      }
    }
  }
  return list.map(pyStr).filter((s) => s.length > 0);
}

function daysInMonth(y: number, m: number): number {
  return [31, y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][
    m - 1
  ]!;
}

function parseIsoDate(s: string): string {
  const m = /^(\d{4})-?(\d{2})-?(\d{2})$/.exec(s);
  if (!m || (s.length !== 8 && s.length !== 10)) throw new Error(`Invalid isoformat string: '${s}'`);
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo))
    throw new Error(`Invalid isoformat string: '${s}'`);
  return `${m[1]}-${m[2]}-${m[3]}`;
}

function parseIsoTime(s: string): string {
  const m = /^(\d{2})(?::?(\d{2})(?::?(\d{2})(?:[.,](\d{1,9}))?)?)?(Z|[+-]\d{2}(?::?\d{2}(?::?\d{2})?)?)?$/.exec(s);
  if (!m) throw new Error(`Invalid isoformat string: '${s}'`);
  const [h, mi, se] = [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)];
  if (h > 23 || mi > 59 || se > 59) throw new Error(`Invalid isoformat string: '${s}'`);
  const micro = m[4] ? m[4].padEnd(6, "0").slice(0, 6) : "";
  let out = `${m[1]}:${m[2] ?? "00"}:${m[3] ?? "00"}`;
  if (micro && Number(micro) !== 0) out += `.${micro}`;
  if (m[5]) {
    if (m[5] === "Z") out += "+00:00";
    else {
      const tz = m[5].replace(/:/g, "");
      out += `${tz.slice(0, 3)}:${tz.slice(3, 5) || "00"}${tz.length > 5 ? `:${tz.slice(5, 7)}` : ""}`;
    }
  }
  return out;
}

/** str(datetime.date.fromisoformat(s)); throws where Python raises. */
export function pyDateFromIso(s: string): string {
  return parseIsoDate(s);
}

/** str(datetime.datetime.fromisoformat(s)); throws where Python raises. */
export function pyDatetimeFromIso(s: string): string {
  const date = /^(\d{4}-\d{2}-\d{2}|\d{8})(?:(.)(.+))?$/s.exec(s);
  if (!date) throw new Error(`Invalid isoformat string: '${s}'`);
  return `${parseIsoDate(date[1]!)} ${date[3] !== undefined ? parseIsoTime(date[3]) : "00:00:00"}`;
}

/** str(datetime.time.fromisoformat(s)); throws where Python raises. */
export function pyTimeFromIso(s: string): string {
  return parseIsoTime(s.startsWith("T") ? s.slice(1) : s);
}
