// Folders that appear complete or not at all: files are written (and fsynced) into `<name>.tmp-<pid>/` beside the
// target, which is then renamed to `<name>` and the parent folder fsynced. A kill at any moment leaves either the old
// folder, the new one, or a `.tmp-<pid>` folder that readers ignore and `removeStaleTempDirs` clears.
import { closeSync, existsSync, fsyncSync, lstatSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";

/** Writes a file inside a folder being built, fsyncing it. */
export function writeFileSynced(path: string, content: string | Uint8Array): void {
  const fd = openSync(path, "w");
  try {
    const data = typeof content === "string" ? Buffer.from(content, "utf8") : content;
    let off = 0;
    while (off < data.byteLength) off += writeSync(fd, data, off, data.byteLength - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
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

const TEMP_RE = /^(.*)\.tmp-(\d+)$/;

/** The temporary folder name used while building `target`. */
export function tempDirFor(target: string): string {
  return join(dirname(target), `${basename(target)}.tmp-${process.pid}`);
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
  if (!st.isDirectory()) throw new Error(`${target}: exists and is not a folder (refusing to replace it with the output folder)`);
}

/**
 * Builds `target` atomically: `fill(tmpDir)` writes the files (use writeFileSynced), then the folder replaces
 * `target` (an existing `target` is moved aside and removed only after the rename). On error the temp folder
 * is removed and the old `target`, if any, is left untouched.
 */
export async function writeDirAtomic(target: string, fill: (tmpDir: string) => Promise<void> | void): Promise<void> {
  checkOutputDir(target);
  const parent = dirname(target);
  mkdirSync(parent, { recursive: true });
  const tmp = tempDirFor(target);
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
  renameSync(tmp, target);
  fsyncDir(parent);
  if (old) rmSync(old, { recursive: true, force: true });
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Removes `*.tmp-<pid>` / `*.old-<pid>` folders in `dir` left by processes that are no longer running. */
export function removeStaleTempDirs(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const removed: string[] = [];
  for (const name of readdirSync(dir)) {
    const m = TEMP_RE.exec(name) ?? /^(.*)\.old-(\d+)$/.exec(name);
    if (!m) continue;
    if (processAlive(Number(m[2]))) continue;
    rmSync(join(dir, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}
