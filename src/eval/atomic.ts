// Atomic file output for src/eval: content goes to a temporary file in the target's folder, which is renamed
// over the target only when complete, so a crash never leaves a partial file under the final name.
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";

function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now().toString(36)}.tmp`);
}

/** Makes an output file's folder; errors name the path when it is a folder or its folder path holds a file. */
export function prepareOutputFile(path: string, what = "output"): void {
  try {
    mkdirSync(dirname(path), { recursive: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`${path}: cannot write the ${what} file (${code === "EEXIST" || code === "ENOTDIR" ? "a part of its folder path is a file" : (err as Error).message})`);
  }
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    /* absent */
  }
  if (isDir) throw new Error(`${path}: is a folder (name the ${what} .jsonl file)`);
}

/** Writes a whole file atomically. */
export function writeFileAtomic(path: string, content: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = tempPathFor(path);
  try {
    writeFileSync(tmp, content);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** A file written piece by piece that appears under its name only on commit(); abort() discards it. */
export class AtomicWriter {
  private readonly tmp: string;
  private fd: number | null;

  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
    this.tmp = tempPathFor(path);
    this.fd = openSync(this.tmp, "w");
  }

  write(text: string): void {
    if (this.fd === null) throw new Error(`${this.path}: write after commit/abort`);
    writeSync(this.fd, text);
  }

  commit(): void {
    if (this.fd === null) throw new Error(`${this.path}: already committed or aborted`);
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = null;
    renameSync(this.tmp, this.path);
  }

  abort(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
    rmSync(this.tmp, { force: true });
  }
}
