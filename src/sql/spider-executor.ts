// Runs SQL on SQLite databases with a per-query timeout: the Spider evaluator's executor, and the engine under the
// read-only SQLite executor (./sqlite.ts), which asks for a row cap, a byte cap and SQLite's own read-only verdict.
//
// better-sqlite3 is synchronous and has no interrupt: a slow query blocks its thread inside native code, where
// neither a timer nor Worker.terminate() can reach it. So queries run in child processes (sql-child.ts), a
// small pool reused across queries (each keeps its databases open); a query that passes its timeout gets
// its process killed (SIGKILL) and a fresh one is started for the next query.
import { fork, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { SqlValue } from "./cells.js";

export type ExecOutcome =
  | { kind: "rows"; rows: SqlValue[][]; ms: number; columns?: string[]; truncated?: boolean }
  | { kind: "error"; message: string; ms: number }
  | { kind: "timeout"; ms: number };

export interface SqlExecutorOptions {
  /** Per-query time limit in milliseconds. Default 30,000. */
  timeoutMs?: number;
  /** Child processes (queries run in parallel up to this many). Default 1. */
  processes?: number;
  /** A result with more rows than this counts as an error (keeps runaway joins from eating memory). Default 1,000,000. */
  maxRows?: number;
  /** JavaScript heap of each child process in MiB (a huge cell then kills the child, not the machine). Default Node's. */
  maxHeapMb?: number;
}

/** How one query runs (the evaluator's defaults: every row, SQLite's legacy double-quoted strings accepted). */
export interface ExecuteOptions {
  /**
   * Read-only mode: refuse a statement SQLite does not call read-only, return the column names, and instead of an
   * error past maxRows stop at `rowLimit` rows or `maxBytes` bytes of cells and flag `truncated`.
   */
  readOnly?: { rowLimit: number; maxBytes: number };
}

interface ChildSlot {
  proc: ChildProcess | null;
  /** Resolves when the process has loaded (its start-up does not count against a query's time limit). */
  ready: Promise<boolean> | null;
  busy: boolean;
}

/** How long a child process may take to start (loading Node, better-sqlite3, tsx under the tests). */
const START_TIMEOUT_MS = 60_000;

interface Pending {
  resolve: (o: ExecOutcome) => void;
  timer: NodeJS.Timeout;
  start: number;
  proc: ChildProcess;
}

function childScript(): string {
  // Same extension as this file: .ts when run through tsx, .js from dist/.
  const self = fileURLToPath(import.meta.url);
  const ext = self.endsWith(".ts") ? ".ts" : ".js";
  const path = fileURLToPath(new URL(`./sqlite-child${ext}`, import.meta.url));
  if (!existsSync(path)) throw new Error(`SQL executor child script not found: ${path}`);
  return path;
}

/** A pool of SQL-running child processes with per-query timeouts. Call close() when done. */
export class SqlExecutor {
  readonly timeoutMs: number;
  readonly maxRows: number;
  private readonly maxHeapMb?: number;
  private readonly slots: ChildSlot[];
  private readonly queue: Array<() => void> = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;
  private readonly script = childScript();

  constructor(options: SqlExecutorOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.maxRows = options.maxRows ?? 1_000_000;
    this.maxHeapMb = options.maxHeapMb;
    const n = Math.max(1, Math.floor(options.processes ?? 1));
    this.slots = Array.from({ length: n }, () => ({ proc: null, ready: null, busy: false }));
  }

  /** Runs one statement on the database file. Never rejects for SQL problems: they come back as outcomes. */
  async execute(dbPath: string, sql: string, options: ExecuteOptions = {}): Promise<ExecOutcome> {
    if (this.closed) throw new Error("SqlExecutor is closed");
    const slot = await this.acquire();
    try {
      return await this.runOn(slot, dbPath, sql, options);
    } finally {
      slot.busy = false;
      this.queue.shift()?.();
    }
  }

  /** Stops all child processes. Queries still running resolve as errors. */
  close(): void {
    this.closed = true;
    for (const slot of this.slots) this.kill(slot);
  }

  private acquire(): Promise<ChildSlot> {
    const free = this.slots.find((s) => !s.busy);
    if (free) {
      free.busy = true;
      return Promise.resolve(free);
    }
    return new Promise((resolve) =>
      this.queue.push(() => {
        const slot = this.slots.find((s) => !s.busy)!;
        slot.busy = true;
        resolve(slot);
      }),
    );
  }

  private spawn(slot: ChildSlot): ChildProcess {
    // Inherit loaders (tsx) but not debugger flags, which would clash on the inspector port.
    const execArgv = process.execArgv.filter(
      (a) => !a.startsWith("--inspect") && !a.startsWith("--max-old-space-size"),
    );
    if (this.maxHeapMb) execArgv.push(`--max-old-space-size=${this.maxHeapMb}`);
    const proc = fork(this.script, [], {
      serialization: "advanced",
      execArgv,
      stdio: ["ignore", "ignore", "pipe", "ipc"],
    });
    let stderr = "";
    proc.stderr?.on("data", (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-2000);
    });
    let started: (ok: boolean) => void = () => {};
    slot.ready = new Promise<boolean>((resolve) => (started = resolve));
    const startTimer = setTimeout(() => started(false), START_TIMEOUT_MS);
    startTimer.unref();
    proc.on(
      "message",
      (msg: {
        ready?: boolean;
        id: number;
        ok: boolean;
        rows?: SqlValue[][];
        columns?: string[];
        truncated?: boolean;
        error?: string;
        ms: number;
      }) => {
        if (msg.ready) {
          clearTimeout(startTimer);
          return started(true);
        }
        const p = this.pending.get(msg.id);
        if (!p) return;
        this.pending.delete(msg.id);
        clearTimeout(p.timer);
        if (!msg.ok) return p.resolve({ kind: "error", message: msg.error!, ms: msg.ms });
        const out: ExecOutcome = { kind: "rows", rows: msg.rows!, ms: msg.ms };
        if (msg.columns) out.columns = msg.columns;
        if (msg.truncated !== undefined) out.truncated = msg.truncated;
        p.resolve(out);
      },
    );
    proc.on("exit", (code, signal) => {
      started(false);
      if (slot.proc === proc) slot.proc = null;
      // A query in flight on a process that died (out of memory, crash) fails with the reason.
      for (const [id, p] of this.pending) {
        if (p.proc !== proc) continue;
        this.pending.delete(id);
        clearTimeout(p.timer);
        const why = stderr.trim().split("\n").slice(-1)[0] || `exit ${code ?? signal}`;
        p.resolve({ kind: "error", message: `SQL executor process died (${why})`, ms: performance.now() - p.start });
      }
    });
    proc.on("error", () => {}); // a failed send is reported through its callback, a crash through "exit"
    proc.unref();
    proc.channel?.unref();
    slot.proc = proc;
    return proc;
  }

  private kill(slot: ChildSlot): void {
    const proc = slot.proc;
    slot.proc = null;
    if (proc && proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
  }

  private async runOn(slot: ChildSlot, dbPath: string, sql: string, options: ExecuteOptions): Promise<ExecOutcome> {
    const proc = slot.proc ?? this.spawn(slot);
    const t0 = performance.now();
    if (!(await slot.ready)) {
      this.kill(slot);
      return { kind: "error", message: "SQL executor process failed to start", ms: performance.now() - t0 };
    }
    const id = this.nextId++;
    return new Promise<ExecOutcome>((resolve) => {
      const start = performance.now();
      const timer = setTimeout(() => {
        if (!this.pending.delete(id)) return;
        this.kill(slot);
        resolve({ kind: "timeout", ms: performance.now() - start });
      }, this.timeoutMs);
      this.pending.set(id, { resolve, timer, start, proc });
      proc.send({ id, dbPath, sql, maxRows: this.maxRows, readOnly: options.readOnly }, (err) => {
        if (!err || !this.pending.delete(id)) return;
        clearTimeout(timer);
        this.kill(slot);
        resolve({
          kind: "error",
          message: `SQL executor process unreachable (${err.message})`,
          ms: performance.now() - start,
        });
      });
    });
  }
}
