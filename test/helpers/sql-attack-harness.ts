// Runs the attack corpus (sql-attack-corpus.ts) against a read-only executor and checks, after every case, what
// must hold whatever the outcome: the data as before (read through another connection), no file written, no lock
// left, the other session alive, no transaction left open, the call back within its time, and an outcome that is a
// clear refusal, an SQL error, a timeout or bounded rows (never a raw driver or JavaScript error).
import assert from "node:assert/strict";
import { test } from "node:test";
import type { FastifyInstance } from "fastify";
import {
  QueryFailedError,
  SqlRefusedError,
  type ExecuteLimits,
  type QueryResult,
  type ReadOnlyDatabase,
} from "../../src/sql/index.js";
import { fill, type Attack, type Expect } from "./sql-attack-corpus.js";

export type Outcome = "refused" | "error" | "timeout" | "truncated" | "ok";

/** What the database's test knows how to look at from the outside. */
export interface Probe {
  /** A fingerprint of everything an attack could change (rows, sequences, tables, roles). */
  snapshot(): Promise<string>;
  /** Whether a file appeared where attacks try to write. */
  filesWritten(): Promise<string[]>;
  /** Locks (advisory / named) still held. */
  locksHeld(): Promise<number>;
  /** Sessions of the executor left inside a transaction. */
  openTransactions(): Promise<number>;
  /** The other session is still there. */
  victimAlive(): Promise<boolean>;
}

export const LIMITS: Required<ExecuteLimits> = { rowLimit: 1000, timeoutMs: 3000, maxBytes: 4 * 1024 * 1024 };
/** The longest a call may take: the statement timeout, the client's grace, a connection, and a loaded machine. */
export const CALL_BOUND_MS = LIMITS.timeoutMs + 2000 + 5000;

export function outcomeOf(result: QueryResult | undefined, error: unknown): { outcome: Outcome; detail: string } {
  if (error instanceof SqlRefusedError) return { outcome: "refused", detail: `${error.code}: ${error.message}` };
  if (error instanceof QueryFailedError) return { outcome: error.kind, detail: error.message };
  if (error)
    assert.fail(`raw error (neither a refusal nor an SQL failure): ${(error as Error)?.stack ?? String(error)}`);
  return {
    outcome: result!.truncated ? "truncated" : "ok",
    detail: `${result!.rows.length} rows${result!.truncatedBy ? `, cut by ${result!.truncatedBy}` : ""}`,
  };
}

export function matches(expect: Expect | Expect[], outcome: Outcome): boolean {
  const list = Array.isArray(expect) ? expect : [expect];
  return list.some(
    (e) =>
      e === outcome || (e === "blocked" && (outcome === "refused" || outcome === "error" || outcome === "timeout")),
  );
}

/** Everything that must hold after any case. */
export async function assertUnharmed(probe: Probe, before: string, what: string): Promise<void> {
  assert.equal(await probe.snapshot(), before, `${what}: the data changed`);
  assert.deepEqual(await probe.filesWritten(), [], `${what}: a file was written`);
  assert.equal(await probe.locksHeld(), 0, `${what}: a lock is left`);
  assert.equal(await probe.openTransactions(), 0, `${what}: a transaction is left open`);
  assert.equal(await probe.victimAlive(), true, `${what}: the other session was killed`);
}

export interface CorpusRun {
  /** Suffix of each test's name. */
  label: string;
  db: () => ReadOnlyDatabase;
  probe: () => Probe;
  values: () => Record<string, string | number>;
  /** Check the outcome against `expect` (off for the layers-below-the-check run: only the harm checks count). */
  checkOutcome: boolean;
  /** Cases for this server (decided when the test runs: e.g. MariaDB-only tables); others are skipped. */
  include?: (attack: Attack) => boolean;
}

/** One node:test test per case. */
export function corpusTests(attacks: Attack[], run: CorpusRun): void {
  for (const attack of attacks) {
    test(`${attack.name} [${run.label}]`, async (t) => {
      if (run.include && !run.include(attack)) return t.skip("not for this server");
      const probe = run.probe();
      const before = await probe.snapshot();
      const sql = fill(attack.sql, run.values());
      const t0 = performance.now();
      let result: QueryResult | undefined;
      let error: unknown;
      try {
        result = await run.db().execute(sql, LIMITS);
      } catch (err) {
        error = err;
      }
      const ms = performance.now() - t0;
      const { outcome, detail } = outcomeOf(result, error);
      if (run.checkOutcome)
        assert.ok(
          matches(attack.expect, outcome),
          `expected ${JSON.stringify(attack.expect)}, got ${outcome} (${detail})`,
        );
      if (error instanceof SqlRefusedError)
        assert.ok(
          error.message.length > 10 && !/undefined|\[object /.test(error.message),
          `unclear refusal: ${error.message}`,
        );
      if (result) {
        assert.ok(result.rows.length <= LIMITS.rowLimit, `${result.rows.length} rows returned`);
        assert.ok(
          JSON.stringify(result.rows).length <= LIMITS.maxBytes + 1024 * 1024,
          "rows beyond the byte cap returned",
        );
      }
      assert.ok(ms < CALL_BOUND_MS, `the call took ${Math.round(ms)} ms`);
      await assertUnharmed(probe, before, attack.name);
    });
  }
}

/** The model's reply for a question "case <i>": the attack's SQL in the prompt's open ```sql fence. */
export function attackReplies(
  attacks: Attack[],
  values: () => Record<string, string | number>,
): (question: string) => string {
  return (question) => {
    const i = Number(/case (\d+)/.exec(question)?.[1]);
    return `${fill(attacks[i]!.sql, values())}\n\`\`\``;
  };
}

/** Over HTTP (POST /text2sql, execute): every refusal a 422 naming the reason; never a 500 or a raw error. */
export function httpCorpusTests(
  attacks: Attack[],
  label: string,
  app: () => FastifyInstance,
  probe: () => Probe,
  include?: (attack: Attack) => boolean,
): void {
  attacks.forEach((attack, i) => {
    test(`HTTP: ${attack.name} [${label}]`, async (t) => {
      if (include && !include(attack)) return t.skip("not for this server");
      const p = probe();
      const before = await p.snapshot();
      const res = await app().inject({
        method: "POST",
        url: "/text2sql",
        headers: { "content-type": "application/json" },
        payload: JSON.stringify({ question: `case ${i}`, execute: true }),
      });
      const body = res.json();
      assert.ok(
        res.statusCode === 200 || res.statusCode === 422,
        `status ${res.statusCode}: ${res.body.slice(0, 300)}`,
      );
      const text = JSON.stringify(body);
      assert.ok(
        !/TypeError|ReferenceError|is not a function|Cannot read propert|at .*\.ts:\d+/.test(text),
        `raw error in the reply: ${text.slice(0, 300)}`,
      );
      let outcome: Outcome;
      if (res.statusCode === 422) {
        assert.match(body.message, /^execute refused: .{10,}/);
        assert.equal(body.execution.status, "refused");
        assert.equal(typeof body.code, "string");
        assert.equal(typeof body.sql, "string");
        outcome = "refused";
      } else {
        const ex = body.execution;
        assert.ok(ex && typeof ex.status === "string", `no execution in ${text.slice(0, 200)}`);
        if (ex.status !== "ok")
          assert.ok(typeof ex.error === "string" && ex.error.length > 5, `unclear error: ${text.slice(0, 200)}`);
        outcome = ex.status === "ok" ? (ex.truncated ? "truncated" : "ok") : ex.status;
      }
      assert.ok(
        matches(attack.expect, outcome),
        `expected ${JSON.stringify(attack.expect)}, got ${outcome}: ${text.slice(0, 300)}`,
      );
      await assertUnharmed(p, before, attack.name);
    });
  });
}
