// Run folders: createRun() makes (or, on resume, reopens) output/runs/<id>/ with config.json, metrics.jsonl,
// system.json, system.jsonl and status.json. The training loop writes through it (it is train's RunSink).
//
// Resume: a resumed run continues the same folder. metrics.jsonl is append-only: nothing already written is
// rewritten or removed. Every line carries the `session` that wrote it (1 for the first start, 2 after the
// first resume, …). A resumed session restarts from its checkpoint's step, so it may log again steps the
// interrupted session had already logged past that checkpoint; readers (readMetrics) let a later session's
// rows supersede an earlier session's rows from the later session's first logged step on, so charts show one
// clean curve while the file keeps the whole history.
import { existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { writeJsonAtomic } from "../files/index.js";
import { appendJsonLine, readJsonFile } from "./files.js";
import { SystemSampler, systemSnapshot, type SystemSnapshot } from "./system.js";

export type RunStatus = "running" | "finished" | "failed" | "interrupted";

export interface CreateRunOptions {
  /** Folder holding run folders (default of the CLI: output/runs). */
  logdir: string;
  /** A human name, part of the id (letters, digits, `.`, `_`, `-`; anything else becomes `-`). */
  name?: string;
  /** The run's options, written to config.json (kept as first written when resuming). */
  config: Record<string, unknown>;
  /** The id of a run folder under logdir to continue. */
  resume?: string;
  /** System sampling period in ms (default 10000; 0 turns the sampler off). */
  systemIntervalMs?: number;
  /** Sample GPUs through nvidia-smi (default: when nvidia-smi answers). */
  gpu?: boolean;
  /** Clock for ids and timestamps (tests). */
  now?: () => Date;
}

/**
 * Marks a status whose last session still says "running" as interrupted (its process is known to be gone): the
 * session gets status "interrupted" and finished = `when`, and so does the run. Returns whether it changed anything.
 */
export function markInterrupted(status: RunStatusFile, when: string): boolean {
  const last = status.sessions[status.sessions.length - 1];
  if (!last || last.status !== "running") return false;
  last.status = "interrupted";
  last.finished = when;
  last.error ??= "the process ended without finishing the run (killed?)";
  if (status.status === "running") {
    status.status = "interrupted";
    status.finished = when;
    status.updated = when;
  }
  return true;
}

export interface RunSession {
  session: number;
  started: string;
  finished?: string;
  status: RunStatus;
  error?: string;
  pid: number;
  hostname: string;
}

export interface RunStatusFile {
  id: string;
  name: string | null;
  status: RunStatus;
  started: string;
  updated: string;
  finished?: string;
  error?: string;
  last_step: number | null;
  sessions: RunSession[];
}

export interface Run {
  readonly id: string;
  readonly dir: string;
  /** 1 for a new run, n+1 for the n-th resume. */
  readonly session: number;
  /** Appends `{ step, time, session, ...metrics }` to metrics.jsonl (non-finite numbers are written as null). */
  log(step: number, metrics: Record<string, number>): void;
  /** Stops the sampler (one last sample) and writes the final status.json; later calls do nothing. */
  finish(result: { status: "finished" | "failed" | "interrupted"; error?: string }): Promise<void>;
}

const RESERVED = new Set(["step", "time", "session"]);

function sanitizeName(name: string): string {
  return name
    .replace(/[^A-Za-z0-9._-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 80);
}

function stamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}-${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
}

/** Creates a new run folder, or reopens `resume`'s, and starts its system sampler. */
export async function createRun(options: CreateRunOptions): Promise<Run> {
  const now = options.now ?? (() => new Date());
  const logdir = resolve(options.logdir);
  const started = now();
  let id: string;
  let dir: string;
  let status: RunStatusFile;
  let previousSystem: (SystemSnapshot & { previous?: SystemSnapshot[] }) | null = null;
  const snapshot = await systemSnapshot();

  if (options.resume !== undefined) {
    id = options.resume;
    if (id.includes("/") || id.includes("\\") || id === "." || id === "..")
      throw new Error(`createRun: resume id ${JSON.stringify(id)} is not a run id`);
    dir = join(logdir, id);
    const old = readJsonFile<RunStatusFile>(join(dir, "status.json"));
    if (!existsSync(dir) || old === null)
      throw new Error(`createRun: cannot resume run ${id}: ${join(dir, "status.json")} does not exist`);
    if (!Array.isArray(old.sessions)) throw new Error(`${join(dir, "status.json")}: field "sessions" is not a list`);
    status = old;
    // the session before this one never said how it ended: it was killed (SIGKILL, power loss, OOM)
    markInterrupted(status, started.toISOString());
    previousSystem = readJsonFile(join(dir, "system.json"));
  } else {
    const name = options.name ? sanitizeName(options.name) : "";
    const base = name ? `${stamp(started)}-${name}` : stamp(started);
    mkdirSync(logdir, { recursive: true });
    id = base;
    for (let k = 2; ; k++) {
      try {
        mkdirSync(join(logdir, id));
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
        id = `${base}-${k}`;
      }
    }
    dir = join(logdir, id);
    status = {
      id,
      name: options.name ?? null,
      status: "running",
      started: started.toISOString(),
      updated: started.toISOString(),
      last_step: null,
      sessions: [],
    };
  }

  const session = status.sessions.length + 1;
  status.status = "running";
  delete status.finished;
  delete status.error;
  status.updated = started.toISOString();
  status.sessions.push({
    session,
    started: started.toISOString(),
    status: "running",
    pid: process.pid,
    hostname: snapshot.hostname,
  });

  if (!existsSync(join(dir, "config.json"))) writeJsonAtomic(join(dir, "config.json"), options.config);
  const system: SystemSnapshot & { session: number; previous?: SystemSnapshot[] } = { ...snapshot, session };
  if (previousSystem) {
    const { previous, ...prev } = previousSystem;
    system.previous = [...(previous ?? []), prev as SystemSnapshot];
  }
  writeJsonAtomic(join(dir, "system.json"), system);
  writeJsonAtomic(join(dir, "status.json"), status);

  const metricsPath = join(dir, "metrics.jsonl");
  const sampler = new SystemSampler(
    join(dir, "system.jsonl"),
    options.systemIntervalMs ?? 10_000,
    options.gpu === undefined ? {} : { gpu: options.gpu },
  );
  if (sampler.intervalMs > 0) {
    await sampler.sample();
    sampler.start();
  }
  let finished = false;

  return {
    id,
    dir,
    session,
    log(step: number, metrics: Record<string, number>): void {
      if (finished) throw new Error(`run ${id}: log() after finish()`);
      if (!Number.isInteger(step) || step < 0)
        throw new Error(`run ${id}: step must be a non-negative integer, got ${step}`);
      const row: Record<string, unknown> = { step, time: now().toISOString(), session };
      for (const [k, v] of Object.entries(metrics)) {
        if (RESERVED.has(k)) throw new Error(`run ${id}: metric name "${k}" is reserved`);
        if (typeof v !== "number")
          throw new Error(`run ${id}: metric "${k}" at step ${step} is not a number (${typeof v})`);
        row[k] = Number.isFinite(v) ? v : null;
      }
      appendJsonLine(metricsPath, row);
      status.last_step = step;
    },
    async finish(result): Promise<void> {
      if (finished) return;
      finished = true;
      if (sampler.intervalMs > 0) {
        await sampler.stop();
        await sampler.sample().catch(() => {});
      }
      const t = now().toISOString();
      status.status = result.status;
      status.updated = t;
      status.finished = t;
      if (result.error !== undefined) status.error = result.error;
      const s = status.sessions[status.sessions.length - 1]!;
      s.status = result.status;
      s.finished = t;
      if (result.error !== undefined) s.error = result.error;
      writeJsonAtomic(join(dir, "status.json"), status);
    },
  };
}
