// The one atomic-write module: outputs appear under their name complete or not at all.
//   Files:   written to `.<name>.tmp-<pid>` beside the target, fsynced, renamed over it, the folder fsynced.
//   Folders: filled in `<name>.tmp-<pid>/` beside the target, fsynced, swapped in by rename; the old folder is
//            moved aside (`<name>.old-<pid>`) and removed only after the swap.
// A kill at any moment leaves the old output, the new one, or a temp entry that readers ignore and
// `removeStaleTempDirs` clears. Nothing here replaces a file with a folder or a folder with a file.
import {
  closeSync,
  existsSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";

/** The temporary name (hidden, beside `path`) a file is written under before it is renamed to `path`. */
export function tempPathFor(path: string, tag = "tmp"): string {
  return join(dirname(path), `.${basename(path)}.${tag}-${process.pid}`);
}

/** The temporary folder name used while building the folder `target`. */
export function tempDirFor(target: string): string {
  return join(dirname(target), `${basename(target)}.tmp-${process.pid}`);
}

/** fsync of a folder (makes renames and new entries in it durable); a no-op where folders cannot be opened. */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch {
    /* Windows and some filesystems: folders cannot be fsynced */
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

/**
 * Makes an output file's parent folder and checks that the output is not a folder; errors name the path (call
 * before the work that produces the file). `what` names the file in the error ("output", "predictions", …).
 */
export function checkOutputFile(path: string, what = "output"): void {
  try {
    mkdirSync(dirname(resolve(path)), { recursive: true });
  } catch (err) {
    const c = errCode(err);
    throw new Error(
      `cannot write ${path}: ${c === "EEXIST" || c === "ENOTDIR" ? "a part of its folder path is a file" : (err as Error).message}`,
    );
  }
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    /* absent: fine */
  }
  if (isDir) throw new Error(`cannot write ${path}: it is a folder (name the ${what} file)`);
}

/**
 * Throws when `target` exists but is not a folder: an output folder never replaces a file (a mistyped
 * --out/--save_model_dir must not delete the user's data). Call before doing the work that fills the folder.
 */
export function checkOutputDir(target: string): void {
  let st;
  try {
    st = lstatSync(target);
  } catch {
    return;
  }
  if (!st.isDirectory())
    throw new Error(`${target}: exists and is not a folder (refusing to replace it with the output folder)`);
}

function writeAllSync(fd: number, data: Uint8Array): void {
  let off = 0;
  while (off < data.byteLength) off += writeSync(fd, data, off, data.byteLength - off);
}

function bytesOf(content: string | Uint8Array): Uint8Array {
  return typeof content === "string" ? Buffer.from(content, "utf8") : content;
}

/** Writes a file inside a folder being built (writeDirAtomic), fsyncing it. Not atomic on its own. */
export function writeFileSynced(path: string, content: string | Uint8Array): void {
  const fd = openSync(path, "w");
  try {
    writeAllSync(fd, bytesOf(content));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Renames a complete temporary file over `path` and makes the rename durable (fsync of the folder). */
export function commitFile(tmp: string, path: string): void {
  renameSync(tmp, path);
  fsyncDir(dirname(resolve(path)));
}

/**
 * A file written piece by piece that appears under its name only on commit(); abort() (or an error in the
 * caller, which must call abort()) leaves no file. The parent folder is made if missing.
 */
export class AtomicFile {
  readonly tempPath: string;
  private fd: number | null;

  /** `tempPath` overrides the temporary name (e.g. so a signal handler can remove it). */
  constructor(
    readonly path: string,
    opts: { tempPath?: string } = {},
  ) {
    this.tempPath = opts.tempPath ?? tempPathFor(path);
    try {
      mkdirSync(dirname(resolve(path)), { recursive: true });
    } catch (err) {
      // mkdir -p through a file fails with EEXIST or ENOTDIR: one code and one message for both
      const underFile = errCode(err) === "EEXIST" || errCode(err) === "ENOTDIR";
      const why = underFile ? "a part of its folder path is a file" : (err as Error).message;
      throw Object.assign(new Error(`cannot write ${path}: ${why}`, { cause: err }), {
        code: underFile ? "ENOTDIR" : errCode(err),
      });
    }
    try {
      this.fd = openSync(this.tempPath, "w");
    } catch (err) {
      throw Object.assign(new Error(`cannot write ${path}: ${(err as Error).message}`, { cause: err }), {
        code: errCode(err),
      });
    }
  }

  write(chunk: string | Uint8Array): void {
    if (this.fd === null) throw new Error(`${this.path}: write after commit/abort`);
    writeAllSync(this.fd, bytesOf(chunk));
  }

  /** fsync, close, rename over the target. */
  commit(): void {
    if (this.fd === null) throw new Error(`${this.path}: already committed or aborted`);
    const fd = this.fd;
    this.fd = null;
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      commitFile(this.tempPath, this.path);
    } catch (err) {
      rmSync(this.tempPath, { force: true });
      throw err;
    }
  }

  /** Discards the temporary file (a no-op after commit). */
  abort(): void {
    if (this.fd === null) return;
    closeSync(this.fd);
    this.fd = null;
    rmSync(this.tempPath, { force: true });
  }
}

/** Writes `content` to `path` atomically (temp file, fsync, rename); makes the parent folder if missing. */
export function writeFileAtomic(path: string, content: string | Uint8Array): void {
  const f = new AtomicFile(path);
  try {
    f.write(content);
  } catch (err) {
    f.abort();
    throw err;
  }
  f.commit();
}

/** Writes `value` as pretty JSON (2 spaces, final newline) to `path` atomically. */
export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + "\n");
}

/**
 * Streams chunks to `path` atomically: `produce` gets an async `write(chunk)`; the file appears under its name only
 * when `produce` resolves (fsynced first). On error the temporary file is removed.
 */
export async function streamFileAtomic(
  path: string,
  produce: (write: (chunk: Uint8Array) => Promise<void>) => Promise<void>,
  opts: { tempPath?: string } = {},
): Promise<void> {
  const tmp = opts.tempPath ?? tempPathFor(path);
  mkdirSync(dirname(resolve(path)), { recursive: true });
  const fh = await open(tmp, "w");
  try {
    await produce(async (chunk) => {
      let off = 0;
      while (off < chunk.byteLength) {
        const { bytesWritten } = await fh.write(chunk, off, chunk.byteLength - off);
        off += bytesWritten;
      }
    });
    await fh.sync();
  } catch (e) {
    await fh.close();
    await rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  fsyncDir(dirname(resolve(path)));
}

/**
 * Builds the folder `target` atomically: `fill(tmpDir)` writes the files (use writeFileSynced), then the folder
 * replaces `target` (an existing `target` is moved aside and removed only after the rename). On error the temp
 * folder is removed and the old `target`, if any, is left untouched. `tempDir` overrides the temporary name.
 */
export async function writeDirAtomic(
  target: string,
  fill: (tmpDir: string) => Promise<void> | void,
  opts: { tempDir?: string } = {},
): Promise<void> {
  checkOutputDir(target);
  const parent = dirname(resolve(target));
  mkdirSync(parent, { recursive: true });
  const tmp = opts.tempDir ?? tempDirFor(target);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    await fill(tmp);
    fsyncDir(tmp);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  let old: string | null = null;
  if (existsSync(target)) {
    old = join(parent, `${basename(target)}.old-${process.pid}`);
    rmSync(old, { recursive: true, force: true });
    renameSync(target, old);
  }
  try {
    renameSync(tmp, target);
  } catch (err) {
    if (old) renameSync(old, target);
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  fsyncDir(parent);
  if (old) rmSync(old, { recursive: true, force: true });
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errCode(err) === "EPERM";
  }
}

const TEMP_RE = /^(.*)\.(?:tmp|old)-(\d+)$/;

/** Removes `*.tmp-<pid>` / `*.old-<pid>` entries in `dir` left by processes that are no longer running. */
export function removeStaleTempDirs(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const removed: string[] = [];
  for (const name of readdirSync(dir)) {
    const m = TEMP_RE.exec(name);
    if (!m) continue;
    if (processAlive(Number(m[2]))) continue;
    rmSync(join(dir, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

/**
 * Removes `paths` if SIGINT/SIGTERM arrives before the returned disposer is called, then lets the signal take its
 * usual course (re-raised once our handler is gone): Ctrl-C during long work leaves no temporary file.
 */
export function removeOnInterrupt(paths: string[]): () => void {
  const signals: NodeJS.Signals[] = ["SIGINT", "SIGTERM"];
  const handler = (sig: NodeJS.Signals) => {
    for (const p of paths) rmSync(p, { recursive: true, force: true });
    dispose();
    process.kill(process.pid, sig);
  };
  const dispose = () => {
    for (const s of signals) process.removeListener(s, handler);
  };
  for (const s of signals) process.on(s, handler);
  return dispose;
}
