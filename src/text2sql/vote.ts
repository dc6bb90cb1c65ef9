// Choosing among candidate queries by executing them (self-consistency): each candidate runs (read-only, through
// whatever runner the caller gives: src/sql's executors), candidates whose result sets are equal vote together,
// the largest group wins; a tie between groups goes to the group holding the candidate with the highest mean
// log-probability, and within the winning group that candidate is the answer. Candidates that fail to run (or
// are empty) get no vote; when every candidate fails, the most probable one is returned, marked.

export interface VoteCandidate {
  sql: string;
  /** Mean token log-probability of the candidate's reply (higher is more probable). */
  logprob?: number;
}

/** What running a candidate gave: its rows, or why it failed. */
export type CandidateOutcome = { ok: true; rows: readonly (readonly unknown[])[] } | { ok: false; error: string };

export interface VotedCandidate extends VoteCandidate {
  index: number;
  status: "ok" | "error";
  error?: string;
  /** Candidates (itself included) whose result set equals this one's; 0 for a failed candidate. */
  votes: number;
  /** Result-set group (0 = the winning group when any ran), -1 for a failed candidate. */
  group: number;
}

export interface VoteResult {
  /** Index of the chosen candidate. */
  winner: number;
  candidates: VotedCandidate[];
  /** Distinct result sets among the candidates that ran. */
  groups: number;
  /** True when no candidate ran: the winner is the most probable failed one. */
  allFailed: boolean;
}

function cellKey(v: unknown): string {
  if (v === null || v === undefined) return "N";
  if (typeof v === "bigint") return "I" + v.toString();
  if (typeof v === "number") return Number.isInteger(v) ? "I" + BigInt(v).toString() : "F" + String(v);
  if (typeof v === "string") return "S" + v;
  if (typeof v === "boolean") return "I" + (v ? "1" : "0");
  if (v instanceof Uint8Array) return "B" + Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("hex");
  return "J" + JSON.stringify(v);
}

/** A result set's identity for voting: its rows as a bag (row order ignored, column order kept). */
export function resultSetKey(rows: readonly (readonly unknown[])[]): string {
  return JSON.stringify(rows.map((r) => JSON.stringify(r.map(cellKey))).sort());
}

const lp = (c: VoteCandidate) => (c.logprob === undefined || Number.isNaN(c.logprob) ? -Infinity : c.logprob);

/** Runs each candidate (identical SQL once) and votes on the result sets; see the file header. */
export async function voteByExecution(
  candidates: readonly VoteCandidate[],
  run: (sql: string) => Promise<CandidateOutcome>,
): Promise<VoteResult> {
  if (candidates.length === 0) throw new Error("no candidates to vote on");
  const outcomes = new Map<string, Promise<CandidateOutcome>>();
  const keys: Array<string | null> = [];
  const voted: VotedCandidate[] = [];
  for (const [index, c] of candidates.entries()) {
    const sql = c.sql.trim();
    let outcome: CandidateOutcome;
    if (sql === "") outcome = { ok: false, error: "empty candidate" };
    else {
      let p = outcomes.get(sql);
      if (!p) {
        p = run(sql).catch((err: unknown) => ({ ok: false as const, error: (err as Error).message ?? String(err) }));
        outcomes.set(sql, p);
      }
      outcome = await p;
    }
    keys.push(outcome.ok ? resultSetKey(outcome.rows) : null);
    voted.push({
      ...c,
      index,
      status: outcome.ok ? "ok" : "error",
      ...(outcome.ok ? {} : { error: outcome.error }),
      votes: 0,
      group: -1,
    });
  }
  const members = new Map<string, number[]>();
  keys.forEach((k, i) => {
    if (k !== null) members.set(k, [...(members.get(k) ?? []), i]);
  });
  const best = (idx: number[]) => idx.reduce((a, b) => (lp(voted[b]!) > lp(voted[a]!) ? b : a));
  // Groups by votes, then by their most probable member, then by first appearance.
  const groups = [...members.values()].sort(
    (a, b) => b.length - a.length || lp(voted[best(b)]!) - lp(voted[best(a)]!) || a[0]! - b[0]!,
  );
  groups.forEach((idx, g) => {
    for (const i of idx) {
      voted[i]!.votes = idx.length;
      voted[i]!.group = g;
    }
  });
  if (groups.length === 0) {
    const all = voted.map((_, i) => i);
    return { winner: best(all), candidates: voted, groups: 0, allFailed: true };
  }
  return { winner: best(groups[0]!), candidates: voted, groups: groups.length, allFailed: false };
}
