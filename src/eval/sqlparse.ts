// The slice of Python's sqlparse that Spider's test-suite evaluator (taoyds/test-suite-sql-eval) leans on, written
// again so that scores agree: its lexer's token classes (comments, newlines, whitespace, quoted strings and names,
// numbers, words, punctuation, operators, tried in sqlparse's order at each position), its statement splitter
// (the evaluator's remove_distinct keeps only sqlparse.parse(s)[0], the first statement), and the value-slot
// rewriting of --plug_value (parse.py's reformat_query / strip_query / plugin). Also how Python's sqlite3 module
// runs a string: nothing but comments is an empty result, text after the first statement is an error.
import { sqliteQuotedSpanEnd } from "../sql/index.js";

export type TokenType =
  | "comment.single"
  | "comment.multiline"
  | "newline"
  | "whitespace"
  | "name"
  | "keyword"
  | "keyword.ddl"
  | "string.single"
  | "string.symbol"
  | "number"
  | "punctuation"
  | "operator"
  | "comparison"
  | "wildcard"
  | "placeholder"
  | "literal"
  | "other";

export interface Token {
  type: TokenType;
  value: string;
}

const W = "[\\p{L}\\p{N}\\p{M}_]"; // Python's \w under re.UNICODE (near enough)
const LETTER = "[A-Za-zÀ-Üà-ü]"; // sqlparse's [A-ZÀ-Ü] under re.IGNORECASE
const D = "\\p{Nd}";
const re = (src: string) => new RegExp(src, "iuy");

// sqlparse's keywords.py SQL_REGEX, in its order; each rule is tried at the current position, the first that
// matches wins. Word tokens are keywords only where the splitter cares (CREATE, BEGIN, END, DECLARE, IF, …).
const RULES: Array<[RegExp, TokenType | "word"]> = [
  [re(`(--|# )\\+.*?(\\r\\n|\\r|\\n|$)`), "comment.single"],
  [re(`/\\*\\+[\\s\\S]*?\\*/`), "comment.multiline"],
  [re(`(--|# ).*?(\\r\\n|\\r|\\n|$)`), "comment.single"],
  [re(`/\\*[\\s\\S]*?\\*/`), "comment.multiline"],
  [re(`(\\r\\n|\\r|\\n)`), "newline"],
  [re(`\\s`), "whitespace"],
  [re(`:=`), "operator"],
  [re(`::`), "punctuation"],
  [re(`\\*`), "wildcard"],
  [re("`(``|[^`])*`"), "name"],
  [re(`´(´´|[^´])*´`), "name"],
  [re(`((?<!\\S)\\$(?:${LETTER}${W}*)?\\$)[\\s\\S]*?\\1`), "literal"],
  [re(`\\?`), "placeholder"],
  [re(`%(\\(${W}+\\))?s`), "placeholder"],
  [re(`(?<!${W})[$:?]${W}+`), "placeholder"],
  [re(`\\\\${W}+`), "other"],
  [re(`(NOT\\s+)?(IN)\\b`), "comparison"],
  [re(`(CASE|IN|VALUES|USING|FROM|AS)\\b`), "keyword"],
  [re(`(@|##|#)${LETTER}${W}+`), "name"],
  [re(`${LETTER}${W}*(?=\\s*\\.)`), "name"],
  [re(`${LETTER}${W}*(?=\\()`), "name"],
  [re(`-?0x[${D}A-F]+`), "number"],
  [re(`-?${D}+(\\.${D}+)?E-?${D}+`), "number"],
  [re(`(?![_A-Za-zÀ-Üà-ü])-?(${D}+(\\.${D}*)|\\.${D}+)(?![_A-Za-zÀ-Üà-ü])`), "number"],
  [re(`(?![_A-Za-zÀ-Üà-ü])-?${D}+(?![_A-Za-zÀ-Üà-ü])`), "number"],
  [re(`'(''|\\\\'|[^'])*'`), "string.single"],
  [re(`"(""|\\\\"|[^"])*"`), "string.symbol"],
  [re(`(""|".*?[^\\\\]")`), "string.symbol"],
  [re(`(?<![\\p{L}\\p{N}\\p{M}_\\])])(\\[[^\\]\\[]+\\])`), "name"],
  [
    re(`((LEFT\\s+|RIGHT\\s+|FULL\\s+)?(INNER\\s+|OUTER\\s+|STRAIGHT\\s+)?|(CROSS\\s+|NATURAL\\s+)?)?JOIN\\b`),
    "keyword",
  ],
  [re(`END(\\s+IF|\\s+LOOP|\\s+WHILE)?\\b`), "keyword"],
  [re(`NOT\\s+NULL\\b`), "keyword"],
  [re(`NULLS\\s+(FIRST|LAST)\\b`), "keyword"],
  [re(`UNION\\s+ALL\\b`), "keyword"],
  [re(`CREATE(\\s+OR\\s+REPLACE)?\\b`), "keyword.ddl"],
  [re(`DOUBLE\\s+PRECISION\\b`), "name"],
  [re(`GROUP\\s+BY\\b`), "keyword"],
  [re(`ORDER\\s+BY\\b`), "keyword"],
  [re(`HANDLER\\s+FOR\\b`), "keyword"],
  [re(`(LATERAL\\s+VIEW\\s+)(EXPLODE|INLINE|PARSE_URL_TUPLE|POSEXPLODE|STACK)\\b`), "keyword"],
  [re(`(AT|WITH')\\s+TIME\\s+ZONE\\s+'[^']+'`), "keyword"],
  [re(`(NOT\\s+)?(LIKE|ILIKE|RLIKE)\\b`), "comparison"],
  [re(`[0-9_A-Za-zÀ-Üà-ü][_$#\\p{L}\\p{N}\\p{M}]*`), "word"],
  [re(`[;:()\\[\\],\\.]`), "punctuation"],
  [re(`[<>=~!]+`), "comparison"],
  [re(`[+/@#%^&|^-]+`), "operator"],
];

/** Words the statement splitter treats as keywords (the rest of sqlparse's keyword list changes nothing here). */
const SPLIT_KEYWORDS = new Set(["BEGIN", "END", "DECLARE", "IF", "FOR", "WHILE", "CASE"]);

/** sqlparse's tokens of a text (its lexer: the first rule that matches at each position). */
export function sqlparseTokens(text: string): Token[] {
  const out: Token[] = [];
  let pos = 0;
  while (pos < text.length) {
    let matched = false;
    for (const [rx, type] of RULES) {
      rx.lastIndex = pos;
      const m = rx.exec(text);
      if (!m || m[0].length === 0) continue;
      const value = m[0];
      out.push({
        type: type === "word" ? (SPLIT_KEYWORDS.has(value.toUpperCase()) ? "keyword" : "name") : type,
        value,
      });
      pos += value.length;
      matched = true;
      break;
    }
    if (!matched) {
      const ch = String.fromCodePoint(text.codePointAt(pos)!);
      out.push({ type: "other", value: ch });
      pos += ch.length;
    }
  }
  return out;
}

/** sqlparse's statements of a text (its StatementSplitter), each as its tokens. */
export function sqlparseStatements(text: string): Token[][] {
  const statements: Token[][] = [];
  let tokens: Token[] = [];
  let level = 0;
  let isCreate = false;
  let beginDepth = 0;
  let consumeWs = false;
  const reset = () => {
    tokens = [];
    level = 0;
    isCreate = false;
    beginDepth = 0;
    consumeWs = false;
  };
  const change = (t: Token): number => {
    if (t.type === "punctuation" && t.value === "(") return 1;
    if (t.type === "punctuation" && t.value === ")") return -1;
    if (t.type !== "keyword" && t.type !== "keyword.ddl") return 0;
    const unified = t.value.toUpperCase();
    if (t.type === "keyword.ddl" && unified.startsWith("CREATE")) {
      isCreate = true;
      return 0;
    }
    if (unified === "DECLARE" && isCreate && beginDepth === 0) return 1;
    if (unified === "BEGIN") {
      beginDepth++;
      return isCreate ? 1 : 0;
    }
    if (unified === "END") {
      beginDepth = Math.max(0, beginDepth - 1);
      return -1;
    }
    if (
      (unified === "IF" || unified === "FOR" || unified === "WHILE" || unified === "CASE") &&
      isCreate &&
      beginDepth > 0
    )
      return 1;
    if (/^END\s+(IF|FOR|WHILE)$/.test(unified)) return -1;
    return 0;
  };
  for (const t of sqlparseTokens(text)) {
    // After a statement's ';', plain spaces and line comments still belong to it; anything else (a newline too)
    // starts the next one.
    if (consumeWs && t.type !== "whitespace" && t.type !== "comment.single") {
      statements.push(tokens);
      reset();
    }
    level += change(t);
    tokens.push(t);
    if (level <= 0 && t.type === "punctuation" && t.value === ";") consumeWs = true;
  }
  if (tokens.length > 0 && !tokens.every((t) => t.type === "whitespace" || t.type === "newline"))
    statements.push(tokens);
  return statements;
}

/** The text of sqlparse's first statement ("" when there is none). */
export function firstStatement(text: string): string {
  const [first] = sqlparseStatements(text);
  return first ? first.map((t) => t.value).join("") : "";
}

/** The evaluator's remove_distinct: the first statement, every token that reads "distinct" dropped. */
export function removeDistinctFirstStatement(text: string): string {
  const [first] = sqlparseStatements(text);
  return first
    ? first
        .filter((t) => t.value.toLowerCase() !== "distinct")
        .map((t) => t.value)
        .join("")
    : "";
}

// ---- Python's sqlite3: what cursor.execute does with a string ----

/** Skips whitespace and SQL comments from `i`; returns where the next text starts (or the length). */
function skipSpaceAndComments(sql: string, i: number): number {
  while (i < sql.length) {
    const c = sql[i]!;
    if (c === " " || c === "\t" || c === "\n" || c === "\r" || c === "\f") i++;
    else if (c === "-" && sql[i + 1] === "-") {
      const nl = sql.indexOf("\n", i + 2);
      if (nl < 0) return sql.length;
      i = nl + 1;
    } else if (c === "/" && sql[i + 1] === "*") {
      const end = sql.indexOf("*/", i + 2);
      if (end < 0) return sql.length;
      i = end + 2;
    } else return i;
  }
  return i;
}

/**
 * How Python's sqlite3 (3.11) runs a string: "empty" when it holds only whitespace, comments or ";" (the result is
 * no rows), "multiple" when text other than whitespace and comments follows the first statement's ";"
 * ("You can only execute one statement at a time."), else "one".
 */
export function pythonSqliteStatements(sql: string): "empty" | "one" | "multiple" {
  let i = skipSpaceAndComments(sql, 0);
  if (i >= sql.length) return "empty";
  if (sql[i] === ";" && skipSpaceAndComments(sql, i + 1) >= sql.length) return "empty";
  // The first statement ends at the first ';' outside quotes and comments.
  while (i < sql.length) {
    const c = sql[i]!;
    const quoteEnd = sqliteQuotedSpanEnd(sql, i);
    if (quoteEnd >= 0) {
      i = quoteEnd + 1;
    } else if ((c === "-" && sql[i + 1] === "-") || (c === "/" && sql[i + 1] === "*")) {
      const end = c === "-" ? sql.indexOf("\n", i) : sql.indexOf("*/", i + 2);
      i = end < 0 ? sql.length : end + (c === "-" ? 1 : 2);
    } else if (c === ";") {
      return skipSpaceAndComments(sql, i + 1) >= sql.length ? "one" : "multiple";
    } else i++;
  }
  return "one";
}

// ---- --plug_value: the gold query's values put into the prediction's value slots ----

const SLOT = "VALUERARE";

/** parse.py's reformat_query: no ';' or tabs, tokens other than spaces joined by single spaces, tN.* → *. */
function reformat(query: string): string {
  const q = query.trim().replaceAll(";", "").replaceAll("\t", "");
  let out = sqlparseTokens(q)
    .filter((t) => t.type !== "whitespace")
    .map((t) => t.value)
    .join(" ");
  for (const star of ["t1.*", "t2.*", "t3.*", "T1.*", "T2.*", "T3.*"]) out = out.replaceAll(star, "*");
  return out;
}

/** parse.py's strip_query (after replace_values' keyword casing, which changes no value): tokens with slots, values. */
function stripValues(query: string): { tokens: string[]; values: string[] } {
  let q = query.replace(/(T\d+\.)\s/g, "$1");
  const values: string[] = [];
  const [first] = sqlparseStatements(q);
  const strings = (first ?? [])
    .filter((t) => t.type === "string.single" || t.type === "string.symbol")
    .map((t) => t.value);
  for (const v of strings) {
    values.push(v);
    q = q.replaceAll(v.trim(), SLOT);
  }
  let toks = q.split(/\s+/).filter((t) => t !== "");
  const floats = new Set(q.match(/[-+]?\d*\.\d+/g) ?? []);
  values.push(...toks.filter((t) => floats.has(t)));
  toks = toks.map((t) => (floats.has(t) ? SLOT : t));
  const joined = toks.join(" ");
  const ints = new Set([...joined.matchAll(/[^tT]\d+/g)].map((m) => m[0].trim()));
  values.push(...toks.filter((t) => ints.has(t)));
  toks = toks.map((t) => (ints.has(t) ? SLOT : t));
  const keywords: string[] = [];
  for (const tok of toks) {
    if (tok.includes(".")) {
      if (/[Tt]\d+\./.test(tok))
        keywords.push(
          ...tok
            .replaceAll(".", " . ")
            .split(/\s+/)
            .filter((t) => t !== "")
            .map((t) => t.toLowerCase()),
        );
      else keywords.push(tok.toLowerCase());
    } else if (tok.length > 0) keywords.push(tok.toLowerCase());
  }
  return { tokens: keywords, values };
}

export interface PlugCandidates {
  /** How many ways there are: (distinct gold values) ^ (prediction's value slots). */
  count: number;
  /** The prediction with gold values in its slots, every combination (lazily). */
  candidates: Iterable<string>;
}

/**
 * parse.py's get_all_preds_for_execution: the gold query's values (string literals, numbers) put into the
 * prediction's value slots in every combination. Gold values are taken in the order they first appear (the
 * reference iterates a Python set; the order changes only which candidate is tried first).
 */
export function plugValueCandidates(gold: string, pred: string): PlugCandidates {
  const goldValues = [...new Set(stripValues(reformat(gold)).values)];
  const slotted = stripValues(reformat(pred)).tokens;
  const slots = slotted.flatMap((t, i) => (t === SLOT.toLowerCase() ? [i] : []));
  const count = goldValues.length ** slots.length;
  function* all(): Generator<string> {
    if (slots.length > 0 && goldValues.length === 0) return;
    const pick = new Array<number>(slots.length).fill(0);
    for (;;) {
      const toks = [...slotted];
      slots.forEach((at, k) => (toks[at] = goldValues[pick[k]!]!));
      yield toks.join(" ");
      let k = slots.length - 1;
      while (k >= 0 && pick[k] === goldValues.length - 1) pick[k--] = 0;
      if (k < 0) return;
      pick[k]!++;
    }
  }
  return { count, candidates: { [Symbol.iterator]: all } };
}
