// A small pool of worker threads for the synchronous, CPU-heavy steps of a request (offload-worker.ts): DDL →
// M-Schema and the read-only SQL check. Each task has a time limit (its worker is then terminated and replaced) and
// the queue is bounded (more waiting tasks get 503), so a flood of huge schemas cannot stall the server.
import { availableParallelism } from "node:os";
import type { Worker } from "node:worker_threads";
import { SqlRefusedError, type CheckOptions, type RefusalCode } from "../sql/index.js";
import { siblingScript, startWorkerThread, type SqlDialect } from "../text2sql/index.js";
import { HttpError } from "./errors.js";

/** Schema linking of a DDL db_schema to its question under a token budget (src/mschema's linkSchema). */
export interface SchemaLink {
  question: string;
  budget: number;
}

type Job =
  | { task: "schema"; text: string; dialect: SqlDialect; link?: SchemaLink }
  | { task: "check"; sql: string; dialect: SqlDialect; options: CheckOptions };

interface Pending {
  resolve: (v: string) => void;
  reject: (e: Error) => void;
  timer?: NodeJS.Timeout;
  job: Job;
}

interface Slot {
  worker: Worker | null;
  busy: boolean;
  current?: { id: number; pending: Pending };
}

export interface OffThreadOptions {
  /** Worker threads. Default: the CPUs less one, at least 1, at most 4. */
  threads?: number;
  /** Tasks that may wait for a thread; more are refused (503). Default 64. */
  maxQueue?: number;
  /** Time limit of one task in milliseconds. Default 30,000. */
  taskTimeoutMs?: number;
}

export class OffThread {
  private readonly slots: Slot[];
  private readonly queue: Array<{ id: number; pending: Pending }> = [];
  private readonly maxQueue: number;
  private readonly taskTimeoutMs: number;
  private nextId = 1;
  private readonly script = siblingScript(import.meta.url, "offload-worker");

  constructor(options: OffThreadOptions = {}) {
    const n = options.threads ?? Math.min(4, Math.max(1, availableParallelism() - 1));
    this.slots = Array.from({ length: n }, () => ({ worker: null, busy: false }));
    this.maxQueue = options.maxQueue ?? 64;
    this.taskTimeoutMs = options.taskTimeoutMs ?? 30_000;
  }

  /** DDL → M-Schema (src/mschema's schemaForPrompt, linked to a question when `link` is given) on a worker thread. */
  schemaForPrompt(text: string, dialect: SqlDialect, link?: SchemaLink): Promise<string> {
    return this.run({ task: "schema", text, dialect, link });
  }

  /** src/sql's checkReadOnlySql on a worker thread (rejects with the same SqlRefusedError). */
  checkReadOnlySql(sql: string, dialect: SqlDialect, options: CheckOptions = {}): Promise<string> {
    return this.run({ task: "check", sql, dialect, options });
  }

  /** Stops the threads (tasks waiting or running are rejected). */
  async close(): Promise<void> {
    for (const q of this.queue.splice(0)) q.pending.reject(new Error("server worker pool closed"));
    await Promise.all(
      this.slots.map(async (s) => {
        const w = s.worker;
        s.worker = null;
        s.current?.pending.reject(new Error("server worker pool closed"));
        s.current = undefined;
        s.busy = false;
        if (w) await w.terminate();
      }),
    );
  }

  private run(job: Job): Promise<string> {
    return new Promise((resolve, reject) => {
      const entry = { id: this.nextId++, pending: { resolve, reject, job } };
      const free = this.slots.find((s) => !s.busy);
      if (free) return this.start(free, entry);
      if (this.queue.length >= this.maxQueue) {
        return reject(
          new HttpError(503, `server busy: ${this.maxQueue} schema/SQL checks already waiting; retry later`),
        );
      }
      this.queue.push(entry);
    });
  }

  private spawn(slot: Slot): Worker {
    const worker = startWorkerThread(this.script);
    worker.on("message", (msg: { id: number; ok: boolean; value?: string; error?: string; refusal?: RefusalCode }) => {
      const cur = slot.current;
      if (!cur || cur.id !== msg.id) return;
      this.finish(slot);
      if (msg.ok) cur.pending.resolve(msg.value!);
      else if (msg.refusal) cur.pending.reject(new SqlRefusedError(msg.error!, msg.refusal));
      else cur.pending.reject(new Error(msg.error));
    });
    const fail = (err: Error) => {
      if (slot.worker !== worker) return;
      slot.worker = null;
      const cur = slot.current;
      if (cur) {
        this.finish(slot);
        cur.pending.reject(new Error(`server worker thread failed: ${err.message}`));
      }
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`exit ${code}`)));
    worker.unref(); // an idle pool never keeps the process alive (after the listeners: adding one may ref again)
    slot.worker = worker;
    return worker;
  }

  private start(slot: Slot, entry: { id: number; pending: Pending }): void {
    slot.busy = true;
    slot.current = entry;
    const worker = slot.worker ?? this.spawn(slot);
    worker.ref(); // a task in flight keeps the process alive; an idle thread does not
    entry.pending.timer = setTimeout(() => {
      if (slot.current !== entry) return;
      // A task past its time: the thread is stopped (a parse cannot be interrupted any other way) and replaced.
      slot.worker = null;
      void worker.terminate();
      this.finish(slot);
      const what = entry.pending.job.task === "schema" ? "db_schema" : "the SQL check";
      const err =
        entry.pending.job.task === "check"
          ? new SqlRefusedError(
              `the SQL check took longer than ${this.taskTimeoutMs} ms: SQL too complex to check`,
              "too-long",
            )
          : new HttpError(
              400,
              `body/db_schema: reading it took longer than ${this.taskTimeoutMs} ms (${what} too large or too complex)`,
              "db_schema",
            );
      entry.pending.reject(err);
    }, this.taskTimeoutMs);
    worker.postMessage({ id: entry.id, ...entry.pending.job });
  }

  /** Frees a slot and starts the next waiting task on it. */
  private finish(slot: Slot): void {
    clearTimeout(slot.current?.pending.timer);
    slot.worker?.unref();
    slot.current = undefined;
    slot.busy = false;
    const next = this.queue.shift();
    if (next) this.start(slot, next);
  }
}

let shared: OffThread | undefined;

/** The process's shared pool (created on first use; its threads never keep the process alive). */
export function offThread(): OffThread {
  shared ??= new OffThread();
  return shared;
}

/** schemaForPrompt on the shared pool: the server's default db_schema conversion (startServer). */
export function schemaForPromptOffThread(text: string, dialect: SqlDialect, link?: SchemaLink): Promise<string> {
  return offThread().schemaForPrompt(text, dialect, link);
}

/** checkReadOnlySql on the shared pool: the server executor's check (ReadOnlyOptions.check). */
export function checkReadOnlySqlOffThread(sql: string, dialect: SqlDialect, options: CheckOptions): Promise<string> {
  return offThread().checkReadOnlySql(sql, dialect, options);
}
