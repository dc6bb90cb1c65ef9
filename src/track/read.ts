// Reading run folders back: the list of runs under a logdir, one run's files, metrics with resumed sessions
// resolved (see run.ts), and incremental reads of growing JSONL files (for live updates).
import { closeSync, existsSync, openSync, readdirSync, readSync, statSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { parseJsonLines, readJsonFile } from "./files.js";
import { writeJsonAtomic } from "../files/index.js";
import { markInterrupted, type RunStatusFile } from "./run.js";
import type { SystemSample } from "./system.js";

export type MetricRow = { step: number; time: string; session?: number } & Record<
  string,
  number | string | null | undefined
>;

export interface RunSummary {
  id: string;
  name: string | null;
  status: string;
  started: string | null;
  updated: string | null;
  last_step: number | null;
  /** True when status.json said running but its process on this host was gone (a crash): now marked interrupted. */
  stale: boolean;
}

export interface RunData {
  summary: RunSummary;
  config: Record<string, unknown> | null;
  system: Record<string, unknown> | null;
  status: RunStatusFile | null;
  metrics: MetricRow[];
  systemSamples: SystemSample[];
}

/**
 * Resolves resumed sessions: a row of session s is dropped when a later session's first row has a step at or
 * before it (that later session restarted from a checkpoint and logged those steps again). Rows keep file order.
 */
export function resolveSessions(rows: MetricRow[]): MetricRow[] {
  const firstStep = new Map<number, number>();
  for (const r of rows) {
    const s = r.session ?? 1;
    if (!firstStep.has(s)) firstStep.set(s, r.step);
  }
  const sessions = [...firstStep.keys()].sort((a, b) => a - b);
  return rows.filter((r) => {
    const s = r.session ?? 1;
    for (const later of sessions) if (later > s && r.step >= firstStep.get(later)!) return false;
    return true;
  });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * A status.json that says running while its process on this host is gone belongs to a killed run: it is marked
 * interrupted (and written back when the folder is writable), so readers and resumed runs see what happened.
 */
function settleStale(dir: string, status: RunStatusFile | null): boolean {
  const last = status?.sessions?.[status.sessions.length - 1];
  const stale =
    status?.status === "running" &&
    last !== undefined &&
    last.hostname === os.hostname() &&
    last.pid !== process.pid &&
    !pidAlive(last.pid);
  if (!stale || !status) return false;
  markInterrupted(status, new Date().toISOString());
  try {
    writeJsonAtomic(join(dir, "status.json"), status);
  } catch {
    /* a read-only folder: the summary still says interrupted */
  }
  return true;
}

function summaryOf(id: string, status: RunStatusFile | null, stale = false): RunSummary {
  return {
    id,
    name: status?.name ?? null,
    status: status?.status ?? "unknown",
    started: status?.started ?? null,
    updated: status?.updated ?? null,
    last_step: status?.last_step ?? null,
    stale,
  };
}

/** Run folders under `logdir` (folders with a status.json or metrics.jsonl), newest first. */
export function listRuns(logdir: string): RunSummary[] {
  if (!existsSync(logdir)) return [];
  const out: RunSummary[] = [];
  for (const e of readdirSync(logdir, { withFileTypes: true })) {
    if (!e.isDirectory() || e.name.startsWith(".")) continue;
    const dir = join(logdir, e.name);
    if (!existsSync(join(dir, "status.json")) && !existsSync(join(dir, "metrics.jsonl"))) continue;
    let status: RunStatusFile | null;
    try {
      status = readJsonFile<RunStatusFile>(join(dir, "status.json"));
    } catch {
      status = null;
    }
    out.push(summaryOf(e.name, status, settleStale(dir, status)));
  }
  return out.sort((a, b) => (b.started ?? b.id).localeCompare(a.started ?? a.id));
}

/** All of one run folder. */
export function readRun(dir: string, id: string): RunData {
  if (!existsSync(dir)) throw new Error(`run ${id}: ${dir} does not exist`);
  const status = readJsonFile<RunStatusFile>(join(dir, "status.json"));
  const stale = settleStale(dir, status);
  return {
    summary: summaryOf(id, status, stale),
    config: readJsonFile(join(dir, "config.json")),
    system: readJsonFile(join(dir, "system.json")),
    status,
    metrics: resolveSessions(new JsonlTail(join(dir, "metrics.jsonl")).read() as MetricRow[]),
    systemSamples: new JsonlTail(join(dir, "system.jsonl")).read() as unknown as SystemSample[],
  };
}

/** Reads the complete lines a JSONL file gained since the last read (a partly written last line waits). */
export class JsonlTail {
  private offset = 0;
  private line = 1;

  constructor(readonly path: string) {}

  read(): Record<string, unknown>[] {
    let size: number;
    try {
      size = statSync(this.path).size;
    } catch {
      return [];
    }
    if (size < this.offset) {
      // The file was replaced by a shorter one: read it again from the start.
      this.offset = 0;
      this.line = 1;
    }
    if (size === this.offset) return [];
    const fd = openSync(this.path, "r");
    try {
      const buf = Buffer.alloc(size - this.offset);
      let got = 0;
      while (got < buf.length) {
        const n = readSync(fd, buf, got, buf.length - got, this.offset + got);
        if (n === 0) break;
        got += n;
      }
      const text = buf.subarray(0, got).toString("utf8");
      const { rows, consumed } = parseJsonLines(text, this.path, this.line);
      this.offset += consumed;
      this.line += text.slice(0, consumed).split("\n").length - 1;
      return rows;
    } finally {
      closeSync(fd);
    }
  }
}
