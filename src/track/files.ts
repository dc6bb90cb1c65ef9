// File helpers of src/track: JSONL appends and reads (atomic writes are src/files' writeJsonAtomic).
import { appendFileSync, readFileSync } from "node:fs";

/** Appends one JSON object as a line (one write call, so a line is never interleaved with another). */
export function appendJsonLine(path: string, value: unknown): void {
  appendFileSync(path, JSON.stringify(value) + "\n");
}

/** Reads a JSON file, or returns null when it is absent; bad JSON is an error naming the file. */
export function readJsonFile<T = unknown>(path: string): T | null {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new Error(`${path}: not valid JSON (${(err as Error).message})`);
  }
}

/**
 * Parses JSONL text. A last line without its newline is a line still being written and is left out
 * (`complete` tells how many bytes were consumed); any other bad line is an error naming file and line.
 */
export function parseJsonLines<T = Record<string, unknown>>(
  text: string,
  file: string,
  firstLine = 1,
): { rows: T[]; consumed: number } {
  const rows: T[] = [];
  let pos = 0;
  let line = firstLine;
  while (pos < text.length) {
    const nl = text.indexOf("\n", pos);
    if (nl < 0) break;
    const s = text.slice(pos, nl).trim();
    if (s.length > 0) {
      try {
        rows.push(JSON.parse(s) as T);
      } catch (err) {
        throw new Error(`${file}:${line}: not valid JSON (${(err as Error).message})`);
      }
    }
    pos = nl + 1;
    line++;
  }
  return { rows, consumed: Buffer.byteLength(text.slice(0, pos)) };
}
