// Atomic file output for src/model: write to `<path>.tmp-<pid>` beside the target, fsync, rename over the target.
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/** The temporary name a file is written under before it is renamed to `path`. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}`);
}

/** Writes `content` to `path` atomically (temp file, fsync, rename). */
export function writeFileAtomic(path: string, content: string | Uint8Array): void {
  const tmp = tempPathFor(path);
  const data = typeof content === "string" ? Buffer.from(content, "utf8") : content;
  const fd = openSync(tmp, "w");
  try {
    let off = 0;
    while (off < data.byteLength) off += writeSync(fd, data, off, data.byteLength - off);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
}

/**
 * Streams chunks to `path` atomically: `produce` gets a `write(chunk)` function; the file appears under its name only
 * when `produce` resolves (fsynced first). On error the temporary file is removed.
 */
export async function streamFileAtomic(path: string, produce: (write: (chunk: Uint8Array) => Promise<void>) => Promise<void>): Promise<void> {
  const tmp = tempPathFor(path);
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
  await rename(tmp, path);
}
