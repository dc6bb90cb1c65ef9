// Schema linking: the M-Schema of the tables and columns a question is likely to need, under a token budget, with
// the cell values it mentions in their columns' Examples. Lexical and deterministic (no model):
//   1. score: each table and column by how its name (split at _ and camelCase, stemmed) meets the question's words
//      (same stem, prefix, abbreviation), and by the values the question mentions (ValueIndex.match);
//   2. pack: units in order of utility (a table's header, each column's line, each column's sampled examples),
//      a unit taken when it fits the budget; a table comes with the foreign-key path to the tables already kept
//      (the tables between them and the key columns on it), so joins stay writable;
//   3. measure: the printed text is counted with the tokenizer and trimmed (lowest utility first) until it fits.
// Without a budget everything is kept and only the matched values are added. The text is printed by the one
// M-Schema formatter (format.ts) from a reduced schema, so it reads like every other M-Schema.
import type { ColumnSchema, DatabaseSchema, ForeignKey, TableSchema } from "./model.js";
import { columnLine, formatMSchema, tableHeaderLine } from "./format.js";
import {
  identifierWords,
  isStopword,
  questionWords,
  stemWord,
  textWords,
  wordMatch,
  type QuestionWord,
} from "./terms.js";
import type { ValueIndex, ValueMatch, ValueMatchOptions } from "./values.js";

export interface LinkOptions {
  /** Token budget of the M-Schema text; undefined or 0: no budget (every table and column, matched values added). */
  budget?: number;
  /** Token counter (required with a budget): qwenTokenCounter() gives the Qwen tokenizer's count. */
  countTokens?: (text: string) => number;
  /** The database's value index; without it no values are matched. */
  values?: ValueIndex;
  /** How many matched values are shown (per column, in all). */
  valueMatch?: ValueMatchOptions;
  /** Sampled example values shown per column (default 3, as M-Schema). */
  maxExamples?: number;
}

export interface LinkReport {
  /** Tables kept, in schema order. */
  tables: string[];
  droppedTables: string[];
  columns: number;
  droppedColumns: number;
  /** Columns shown with their sampled examples. */
  columnsWithExamples: number;
  matchedValues: Array<{ table: string; column: string; value: string }>;
  /** Tokens of the text (measured when a budget is given). */
  tokens?: number;
  budget?: number;
  /** False when even the most relevant table does not fit the budget. */
  withinBudget: boolean;
}

export interface LinkResult {
  text: string;
  /** The reduced schema the text prints (kept tables and columns; matched values in `matchedValues`). */
  schema: DatabaseSchema;
  report: LinkReport;
}

const lower = (s: string) => s.toLowerCase();

/** Relevance of an identifier (and its comment) to the question, 0..1. */
function nameRelevance(name: string, comment: string, q: QuestionWord[], generic: (stem: string) => number): number {
  const score = (words: string[]) => {
    const stems = words.filter((w) => !isStopword(w)).map((w) => ({ w, s: stemWord(w) }));
    if (stems.length === 0) return 0;
    let best = 0;
    let sum = 0;
    for (const { s } of stems) {
      let m = 0;
      for (const qw of q) m = Math.max(m, wordMatch(s, qw.stem, qw.word));
      m *= generic(s);
      best = Math.max(best, m);
      sum += m;
    }
    return best * (0.6 + (0.4 * sum) / stems.length);
  };
  const byName = score(identifierWords(name));
  const byComment = comment ? 0.7 * score(textWords(comment)) : 0;
  return Math.max(byName, byComment);
}

interface Unit {
  kind: "table" | "column" | "examples";
  table: number;
  column: number;
  utility: number;
  order: number;
}

interface Selection {
  tables: Set<number>;
  columns: Map<number, Set<number>>;
  examples: Set<string>;
}

const key = (t: number, c: number) => `${t}:${c}`;

/** A question's M-Schema: linked tables and columns under a budget, matched values in Examples. */
export function linkSchema(schema: DatabaseSchema, question: string, options: LinkOptions = {}): LinkResult {
  const maxExamples = options.maxExamples ?? 3;
  if (!Number.isInteger(maxExamples) || maxExamples < 0)
    throw new Error(`maxExamples must be a whole number >= 0, got ${maxExamples}`);
  const budget = options.budget && options.budget > 0 ? options.budget : undefined;
  if (options.budget !== undefined && !(Number.isFinite(options.budget) && options.budget >= 0))
    throw new Error(`budget must be a number of tokens >= 0 (0: no budget), got ${options.budget}`);
  if (budget !== undefined && !options.countTokens)
    throw new Error("a budget needs a token counter (countTokens), see qwenTokenCounter()");
  const tables = schema.tables;
  const q = questionWords(question);

  // Matched values, attached to their columns.
  const schemaStems = new Set(
    tables.flatMap((t) => [t.name, ...t.columns.map((c) => c.name)]).flatMap((n) => identifierWords(n).map(stemWord)),
  );
  const matches: ValueMatch[] = options.values
    ? options.values.match(question, { schemaStems, ...options.valueMatch })
    : [];
  const tableIndex = new Map(tables.map((t, i) => [lower(t.name), i]));
  const columnIndex = tables.map((t) => new Map(t.columns.map((c, i) => [lower(c.name), i])));
  const matchedByColumn = new Map<string, string[]>();
  for (const m of matches) {
    const ti = tableIndex.get(lower(m.table));
    const ci = ti === undefined ? undefined : columnIndex[ti]!.get(lower(m.column));
    if (ti === undefined || ci === undefined) continue;
    const k = key(ti, ci);
    matchedByColumn.set(k, [...(matchedByColumn.get(k) ?? []), m.value]);
  }

  // Foreign keys as index pairs (those naming unknown tables or columns are ignored).
  const fks: Array<{ fk: ForeignKey; a: number; ac: number; b: number; bc: number }> = [];
  for (const fk of schema.foreignKeys) {
    const a = tableIndex.get(lower(fk.table));
    const b = tableIndex.get(lower(fk.refTable));
    if (a === undefined || b === undefined) continue;
    const ac = columnIndex[a]!.get(lower(fk.column));
    const bc = columnIndex[b]!.get(lower(fk.refColumn));
    if (ac === undefined || bc === undefined) continue;
    fks.push({ fk, a, ac, b, bc });
  }
  const fkColumns = new Set(fks.flatMap((f) => [key(f.a, f.ac), key(f.b, f.bc)]));

  // Words that name columns in most tables ("id", "name") say little about which table is meant.
  const tablesWithWord = new Map<string, number>();
  for (const t of tables) {
    const seen = new Set<string>();
    for (const c of t.columns) for (const w of identifierWords(c.name)) seen.add(stemWord(w));
    for (const s of seen) tablesWithWord.set(s, (tablesWithWord.get(s) ?? 0) + 1);
  }
  const generic = (s: string) => {
    const share = (tablesWithWord.get(s) ?? 0) / Math.max(1, tables.length);
    return tables.length >= 3 && share > 0.5 ? 0.5 : 1;
  };

  // Relevance of tables and columns.
  const colRel = tables.map((t) => t.columns.map((c) => nameRelevance(c.name, c.comment, q, generic)));
  const tableScore = tables.map((t, ti) => {
    const name = nameRelevance(t.name, t.comment, q, () => 1);
    const cols = [...colRel[ti]!].sort((a, b) => b - a);
    const valueHit = t.columns.some((_, ci) => matchedByColumn.has(key(ti, ci)));
    return (
      1 + 3 * name + 1.5 * (cols[0] ?? 0) + 0.5 * Math.min(2, (cols[1] ?? 0) + (cols[2] ?? 0)) + (valueHit ? 3 : 0)
    );
  });
  const columnWeight = (ti: number, ci: number) => {
    const c = tables[ti]!.columns[ci]!;
    if (matchedByColumn.has(key(ti, ci))) return 1;
    const rel = colRel[ti]![ci]!;
    let w = rel > 0 ? 0.6 + 0.4 * rel : 0.5;
    if (c.primaryKey) w = Math.max(w, 0.9);
    if (fkColumns.has(key(ti, ci))) w = Math.max(w, 0.85);
    return w;
  };

  const reduced = (sel: Selection): DatabaseSchema => {
    const kept: TableSchema[] = [];
    tables.forEach((t, ti) => {
      if (!sel.tables.has(ti)) return;
      const cols = sel.columns.get(ti) ?? new Set<number>();
      const columns: ColumnSchema[] = [];
      t.columns.forEach((c, ci) => {
        if (!cols.has(ci)) return;
        const matched = matchedByColumn.get(key(ti, ci));
        columns.push({
          ...c,
          examples: sel.examples.has(key(ti, ci)) ? c.examples : [],
          ...(matched ? { matchedValues: matched } : {}),
        });
      });
      kept.push({ ...t, columns });
    });
    const foreignKeys = fks
      .filter(
        (f) =>
          sel.tables.has(f.a) &&
          sel.tables.has(f.b) &&
          sel.columns.get(f.a)?.has(f.ac) &&
          sel.columns.get(f.b)?.has(f.bc),
      )
      .map((f) => f.fk);
    return { dbId: schema.dbId, tables: kept, foreignKeys };
  };

  const everything: Selection = { tables: new Set(tables.map((_, i) => i)), columns: new Map(), examples: new Set() };
  tables.forEach((t, ti) => {
    everything.columns.set(ti, new Set(t.columns.map((_, ci) => ci)));
    t.columns.forEach((_, ci) => everything.examples.add(key(ti, ci)));
  });

  let sel = everything;
  let text = formatMSchema(reduced(sel), { maxExamples });
  let tokens: number | undefined;
  let withinBudget = true;
  if (budget !== undefined) {
    const count = options.countTokens!;
    tokens = count(text);
    if (tokens > budget) {
      // Line costs overestimate (the tokenizer merges a newline with what follows): pack once, scale the costs by
      // what the printed text measured, pack again.
      let packed = pack(1);
      sel = packed.sel;
      text = formatMSchema(reduced(sel), { maxExamples });
      tokens = count(text);
      const scale = tokens / Math.max(1, packed.used);
      if (scale < 0.97) {
        const again = pack(scale);
        const againText = formatMSchema(reduced(again.sel), { maxExamples });
        const againTokens = count(againText);
        if (againTokens <= budget || againTokens < tokens) {
          packed = again;
          sel = again.sel;
          text = againText;
          tokens = againTokens;
        }
      }
      // Estimates are per line; trim by measuring until the printed text fits.
      const removable = packed.taken
        .filter((u) => !packed.forced.has(`${u.kind}:${key(u.table, u.column)}`))
        .sort((a, b) => a.utility - b.utility || b.order - a.order);
      while (tokens > budget && removable.length > 0) {
        const u = removable.shift()!;
        if (!remove(sel, u)) continue;
        text = formatMSchema(reduced(sel), { maxExamples });
        tokens = count(text);
      }
      withinBudget = tokens <= budget;
    }
  }

  const shown = reduced(sel);
  const totalColumns = tables.reduce((n, t) => n + t.columns.length, 0);
  const keptColumns = shown.tables.reduce((n, t) => n + t.columns.length, 0);
  const report: LinkReport = {
    tables: shown.tables.map((t) => t.name),
    droppedTables: tables.filter((_, i) => !sel.tables.has(i)).map((t) => t.name),
    columns: keptColumns,
    droppedColumns: totalColumns - keptColumns,
    columnsWithExamples: [...sel.examples].filter((k) => {
      const [t, c] = k.split(":").map(Number);
      return sel.tables.has(t!) && sel.columns.get(t!)?.has(c!);
    }).length,
    matchedValues: shown.tables.flatMap((t) =>
      t.columns.flatMap((c) => (c.matchedValues ?? []).map((value) => ({ table: t.name, column: c.name, value }))),
    ),
    withinBudget,
  };
  if (budget !== undefined) {
    report.tokens = tokens;
    report.budget = budget;
  }
  return { text, schema: shown, report };

  // ---- packing under the budget ----

  function remove(s: Selection, u: Unit): boolean {
    if (u.kind === "examples") return s.examples.delete(key(u.table, u.column));
    if (u.kind === "column") {
      const cols = s.columns.get(u.table);
      if (!cols || !cols.delete(u.column)) return false;
      s.examples.delete(key(u.table, u.column));
      return true;
    }
    // A table goes with its columns, unless it is the only one left.
    if (!s.tables.has(u.table) || s.tables.size <= 1) return false;
    s.tables.delete(u.table);
    s.columns.delete(u.table);
    return true;
  }

  function pack(scale: number): { sel: Selection; taken: Unit[]; forced: Set<string>; used: number } {
    const count = options.countTokens!;
    const cost = (line: string) => (count(line) + 1) * scale; // + the newline / separator
    const header =
      count(`【DB_ID】 ${schema.dbId}\n【Schema】`) * scale + (fks.length > 0 ? cost("【Foreign keys】") : 0);
    const tableCost = tables.map((t) => cost(tableHeaderLine(t)) + 2 * cost("["));
    const lineCost = tables.map((t, ti) =>
      t.columns.map((c, ci) => {
        const matched = matchedByColumn.get(key(ti, ci));
        const bare = cost(
          columnLine({ ...c, examples: [], ...(matched ? { matchedValues: matched } : {}) }, maxExamples),
        );
        const full = cost(columnLine({ ...c, ...(matched ? { matchedValues: matched } : {}) }, maxExamples));
        return { bare, examples: full - bare };
      }),
    );
    const fkLineCost = fks.map((f) => cost(`${f.fk.table}.${f.fk.column}=${f.fk.refTable}.${f.fk.refColumn}`));

    // Units by utility; ties keep schema order.
    const units: Unit[] = [];
    let order = 0;
    tables.forEach((t, ti) => {
      units.push({ kind: "table", table: ti, column: -1, utility: tableScore[ti]!, order: order++ });
      t.columns.forEach((c, ci) => {
        const w = columnWeight(ti, ci);
        units.push({ kind: "column", table: ti, column: ci, utility: tableScore[ti]! * w, order: order++ });
        if (lineCost[ti]![ci]!.examples > 0)
          units.push({ kind: "examples", table: ti, column: ci, utility: tableScore[ti]! * w * 0.3, order: order++ });
      });
    });
    units.sort((a, b) => b.utility - a.utility || a.order - b.order);

    const s: Selection = { tables: new Set(), columns: new Map(), examples: new Set() };
    const forced = new Set<string>();
    const taken: Unit[] = [];
    let used = header;

    // Shortest foreign-key path from a table to the kept ones (breadth first, in schema order): the tables on it.
    const adjacency = tables.map(() => [] as Array<{ to: number; fk: number }>);
    fks.forEach((f, i) => {
      if (f.a === f.b) return;
      adjacency[f.a]!.push({ to: f.b, fk: i });
      adjacency[f.b]!.push({ to: f.a, fk: i });
    });
    const pathTo = (from: number): { tables: number[]; fks: number[] } | null => {
      if (s.tables.size === 0) return { tables: [from], fks: [] };
      const prev = new Map<number, { from: number; fk: number } | null>([[from, null]]);
      const queue = [from];
      while (queue.length) {
        const cur = queue.shift()!;
        if (cur !== from && s.tables.has(cur)) {
          const path: number[] = [];
          const via: number[] = [];
          let x: number | undefined = cur;
          while (x !== undefined) {
            const p = prev.get(x);
            if (!s.tables.has(x)) path.push(x);
            if (!p) break;
            via.push(p.fk);
            x = p.from;
          }
          return { tables: path, fks: via };
        }
        for (const e of adjacency[cur]!) {
          if (prev.has(e.to)) continue;
          prev.set(e.to, { from: cur, fk: e.fk });
          queue.push(e.to);
        }
      }
      return { tables: [from], fks: [] }; // no path: nothing to close
    };

    // What adding table ti (with its path) would take: new tables, new key columns, their cost.
    const tablePlan = (ti: number) => {
      const path = pathTo(ti)!;
      const newTables = path.tables.filter((t) => !s.tables.has(t));
      const inPlan = new Set([...s.tables, ...newTables]);
      // Key columns on the path, and on every foreign key between a new table and a kept one.
      const fkIds = new Set(path.fks);
      fks.forEach((f, i) => {
        if ((newTables.includes(f.a) && inPlan.has(f.b)) || (newTables.includes(f.b) && inPlan.has(f.a))) fkIds.add(i);
      });
      const cols: Array<[number, number]> = [];
      const have = (t: number, c: number) => s.columns.get(t)?.has(c) || cols.some(([x, y]) => x === t && y === c);
      let c = 0;
      for (const t of newTables) {
        c += tableCost[t]!;
        // A table comes with its primary key.
        tables[t]!.columns.forEach((col, ci) => {
          if (col.primaryKey && !have(t, ci)) {
            cols.push([t, ci]);
            c += lineCost[t]![ci]!.bare;
          }
        });
      }
      for (const i of fkIds) {
        const f = fks[i]!;
        for (const [t, col] of [
          [f.a, f.ac],
          [f.b, f.bc],
        ] as Array<[number, number]>) {
          if (!have(t, col)) {
            cols.push([t, col]);
            c += lineCost[t]![col]!.bare;
          }
        }
        c += fkLineCost[i]!;
      }
      return { newTables, cols, cost: c };
    };
    const applyPlan = (plan: ReturnType<typeof tablePlan>, target: number) => {
      for (const t of plan.newTables) {
        s.tables.add(t);
        s.columns.set(t, s.columns.get(t) ?? new Set());
        if (t !== target) forced.add(`table:${key(t, -1)}`); // on the join path
      }
      for (const [t, c] of plan.cols) {
        s.columns.get(t)!.add(c);
        forced.add(`column:${key(t, c)}`);
      }
      used += plan.cost;
    };

    for (const u of units) {
      if (u.kind === "table") {
        if (s.tables.has(u.table)) continue;
        const plan = tablePlan(u.table);
        if (s.tables.size > 0 && used + plan.cost > budget!) continue;
        applyPlan(plan, u.table); // the first table is always taken
        taken.push(u);
      } else if (u.kind === "column") {
        if (s.columns.get(u.table)?.has(u.column)) continue;
        const plan = s.tables.has(u.table) ? null : tablePlan(u.table);
        const c = (plan?.cost ?? 0) + lineCost[u.table]![u.column]!.bare;
        if (used + c > budget! && !(s.tables.size === 0)) continue;
        if (plan) applyPlan(plan, u.table);
        s.columns.get(u.table)!.add(u.column);
        used += lineCost[u.table]![u.column]!.bare;
        taken.push(u);
      } else {
        if (!s.columns.get(u.table)?.has(u.column) || s.examples.has(key(u.table, u.column))) continue;
        const c = lineCost[u.table]![u.column]!.examples;
        if (used + c > budget!) continue;
        s.examples.add(key(u.table, u.column));
        used += c;
        taken.push(u);
      }
    }
    // Tables added only as part of a path are kept; tables with no column left are dropped.
    for (const t of [...s.tables]) if ((s.columns.get(t)?.size ?? 0) === 0 && s.tables.size > 1) s.tables.delete(t);
    return { sel: s, taken, forced, used };
  }
}
