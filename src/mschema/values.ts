// Value retrieval: which cell values of a database a question mentions, so that the prompt can show them in their
// columns' Examples (XiYan-SQL retrieves values; CodeS ranks them with BM25). A ValueIndex holds the distinct text
// values of every text column (read once per database by the readers, capped) in a MiniSearch full-text index:
// BM25 ranking over words folded for case and accents, Porter-stemmed (plurals), with prefix and fuzzy term matching
// for partial and misspelt mentions. A candidate is kept when the question covers enough of the value's own words;
// the best few per column are returned. Deterministic, CPU-only, nothing downloaded. The index's snapshot (the values,
// not the search structure) is plain JSON, so a database's values can be cached on disk and the index rebuilt.
import MiniSearch from "minisearch";
import { foldText, isStopword, questionWords, stemWord, textWords } from "./terms.js";

/** The distinct text values read from one column. */
export interface ValueColumn {
  table: string;
  column: string;
  values: string[];
  /** True when the column had more distinct values than were read. */
  truncated?: boolean;
}

/** How many values the readers take (defaults: 5,000 per column, 200,000 per database, values of 1-100 characters). */
export interface ValueReadOptions {
  perColumn?: number;
  total?: number;
  maxLength?: number;
}

export const VALUE_READ_DEFAULTS: Required<ValueReadOptions> = { perColumn: 5000, total: 200_000, maxLength: 100 };

export function valueReadLimits(options: ValueReadOptions = {}): Required<ValueReadOptions> {
  const out = {
    ...VALUE_READ_DEFAULTS,
    ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
  };
  for (const [k, v] of Object.entries(out)) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`value index: ${k} must be a positive whole number, got ${v}`);
  }
  return out;
}

/** A value index as JSON (what the on-disk cache holds). */
export interface ValueIndexSnapshot {
  format: "sqlfocus-value-index";
  version: 1;
  dbId: string;
  columns: ValueColumn[];
}

export interface ValueMatch {
  table: string;
  column: string;
  value: string;
  /** BM25 score scaled by coverage; higher is better. */
  score: number;
  /** Share of the value's own words the question mentions, 0..1. */
  coverage: number;
}

export interface ValueMatchOptions {
  /** Most values kept per column (default 3). */
  perColumn?: number;
  /** Most values kept in all (default 15). */
  limit?: number;
  /** Least share of a value's words the question must mention (default 0.5). */
  minCoverage?: number;
  /**
   * Stems that do not count for a partial match: words the question uses to name the schema ("country" in "which
   * countries …" is the table, not part of the value "ford country"). A value the question gives whole still matches.
   */
  schemaStems?: ReadonlySet<string>;
}

interface Doc {
  id: number;
  text: string;
}

/** Fuzzy matching for a question word: one edit from 5 letters, two from 9; never for numbers. */
function fuzziness(term: string): number | false {
  if (/^\p{N}+$/u.test(term)) return false;
  if (term.length >= 9) return 2;
  if (term.length >= 5) return 1;
  return false;
}

function contentStems(value: string): string[] {
  const words = textWords(value);
  const content = words.filter((w) => !isStopword(w));
  return [...new Set((content.length > 0 ? content : words).map(stemWord))];
}

/** Whether `needle` occurs in `hay` at word boundaries (both folded). */
function containsPhrase(hay: string, needle: string): boolean {
  if (!needle) return false;
  let at = hay.indexOf(needle);
  while (at >= 0) {
    const before = at === 0 ? "" : hay[at - 1]!;
    const after = hay[at + needle.length] ?? "";
    if (!/[\p{L}\p{N}]/u.test(before) && !/[\p{L}\p{N}]/u.test(after)) return true;
    at = hay.indexOf(needle, at + 1);
  }
  return false;
}

export class ValueIndex {
  readonly dbId: string;
  readonly columns: readonly ValueColumn[];
  private readonly docColumn: Int32Array;
  private readonly docValue: string[];
  private readonly search: MiniSearch<Doc>;

  private constructor(dbId: string, columns: ValueColumn[]) {
    this.dbId = dbId;
    this.columns = columns;
    const total = columns.reduce((n, c) => n + c.values.length, 0);
    this.docColumn = new Int32Array(total);
    this.docValue = new Array<string>(total);
    this.search = new MiniSearch<Doc>({
      fields: ["text"],
      storeFields: [],
      tokenize: (text) => textWords(text),
      processTerm: (term) => stemWord(term),
      searchOptions: { combineWith: "OR" },
    });
    let id = 0;
    const docs: Doc[] = [];
    columns.forEach((c, ci) => {
      for (const v of c.values) {
        this.docColumn[id] = ci;
        this.docValue[id] = v;
        docs.push({ id, text: v });
        id++;
      }
    });
    this.search.addAll(docs);
  }

  /** An index over the given columns' values (values are used as given; duplicates within a column are dropped). */
  static build(dbId: string, columns: readonly ValueColumn[]): ValueIndex {
    const clean = columns.map((c, i) => {
      if (typeof c?.table !== "string" || typeof c.column !== "string" || !Array.isArray(c.values))
        throw new Error(`value index ${dbId}: column ${i} needs table, column and values`);
      const values = [...new Set(c.values.filter((v) => typeof v === "string" && v.trim() !== ""))];
      return { table: c.table, column: c.column, values, ...(c.truncated ? { truncated: true } : {}) };
    });
    return new ValueIndex(dbId, clean);
  }

  /** Rebuild an index from its snapshot; errors say which field is wrong. */
  static fromJSON(data: unknown, source = "value index"): ValueIndex {
    const d = data as Partial<ValueIndexSnapshot>;
    if (!d || typeof d !== "object" || d.format !== "sqlfocus-value-index")
      throw new Error(`${source}: not a sqlfocus value index (field "format")`);
    if (d.version !== 1)
      throw new Error(`${source}: unsupported version ${JSON.stringify(d.version)} (field "version")`);
    if (typeof d.dbId !== "string") throw new Error(`${source}: field "dbId" must be a string`);
    if (!Array.isArray(d.columns)) throw new Error(`${source}: field "columns" must be an array`);
    return ValueIndex.build(d.dbId, d.columns);
  }

  toJSON(): ValueIndexSnapshot {
    return {
      format: "sqlfocus-value-index",
      version: 1,
      dbId: this.dbId,
      columns: this.columns.map((c) => ({ ...c, values: [...c.values] })),
    };
  }

  /** Number of values indexed. */
  get size(): number {
    return this.docValue.length;
  }

  /** The values a question mentions, best first, at most `perColumn` per column and `limit` in all. */
  match(question: string, options: ValueMatchOptions = {}): ValueMatch[] {
    const perColumn = options.perColumn ?? 3;
    const limit = options.limit ?? 15;
    const minCoverage = options.minCoverage ?? 0.5;
    if (perColumn <= 0 || limit <= 0 || this.size === 0) return [];
    const words = questionWords(question);
    if (words.length === 0) return [];
    const folded = foldText(question);
    const results = this.search.search(words.map((w) => w.word).join(" "), {
      combineWith: "OR",
      prefix: (term) => term.length >= 4 && !/^\p{N}+$/u.test(term),
      fuzzy: (term) => fuzziness(term),
      weights: { fuzzy: 0.6, prefix: 0.7 },
    });
    const candidates: ValueMatch[] = [];
    for (const r of results) {
      const id = r.id as number;
      const value = this.docValue[id]!;
      const stems = contentStems(value);
      if (stems.length === 0) continue;
      const matched = new Set(r.terms);
      const hit = stems.filter((s) => matched.has(s));
      const phrase = containsPhrase(folded, foldText(value).trim());
      const coverage = phrase ? 1 : hit.length / stems.length;
      if (coverage < minCoverage) continue;
      // A partial match must rest on a real word (not a number or a 1-3 letter fragment).
      if (coverage < 1 && !hit.some((s) => s.length >= 4 && !/^\p{N}+$/u.test(s) && !options.schemaStems?.has(s)))
        continue;
      const col = this.columns[this.docColumn[id]!]!;
      candidates.push({
        table: col.table,
        column: col.column,
        value,
        score: r.score * coverage * (phrase ? 2 : 1),
        coverage,
      });
    }
    candidates.sort(
      (a, b) =>
        b.score - a.score ||
        a.table.localeCompare(b.table) ||
        a.column.localeCompare(b.column) ||
        (a.value < b.value ? -1 : a.value > b.value ? 1 : 0),
    );
    const perCol = new Map<string, number>();
    const out: ValueMatch[] = [];
    for (const c of candidates) {
      const key = `${c.table}\u0000${c.column}`;
      const n = perCol.get(key) ?? 0;
      if (n >= perColumn) continue;
      perCol.set(key, n + 1);
      out.push(c);
      if (out.length >= limit) break;
    }
    return out;
  }
}
