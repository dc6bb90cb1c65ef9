// src/files: the one atomic-write module. Outputs appear complete or not at all; a failure leaves the old output.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  AtomicFile,
  checkOutputDir,
  checkOutputFile,
  removeStaleTempDirs,
  streamFileAtomic,
  tempPathFor,
  writeDirAtomic,
  writeFileAtomic,
  writeJsonAtomic,
} from "../src/files/index.js";

const root = mkdtempSync(join(tmpdir(), "sqlfocus-files-"));
after(() => rmSync(root, { recursive: true, force: true }));

test("writeFileAtomic/writeJsonAtomic replace the file whole, make the folder, leave no temp file", () => {
  const p = join(root, "a", "b", "out.json");
  writeJsonAtomic(p, { x: 1 });
  assert.equal(readFileSync(p, "utf8"), '{\n  "x": 1\n}\n');
  writeFileAtomic(p, new Uint8Array([104, 105]));
  assert.equal(readFileSync(p, "utf8"), "hi");
  assert.deepEqual(readdirSync(join(root, "a", "b")), ["out.json"]);
});

test("AtomicFile: nothing under the name until commit; abort keeps the old file", () => {
  const p = join(root, "piece.txt");
  writeFileSync(p, "old");
  const f = new AtomicFile(p);
  f.write("new ");
  f.write(Buffer.from("content"));
  assert.equal(readFileSync(p, "utf8"), "old");
  assert.ok(existsSync(tempPathFor(p)));
  f.abort();
  assert.equal(readFileSync(p, "utf8"), "old");
  assert.ok(!existsSync(tempPathFor(p)));
  const g = new AtomicFile(p);
  g.write("new");
  g.commit();
  assert.equal(readFileSync(p, "utf8"), "new");
  assert.throws(() => g.write("x"), /write after commit/);
  g.abort(); // no-op after commit
  assert.equal(readFileSync(p, "utf8"), "new");
});

test("streamFileAtomic: a producer that throws leaves the old file and no temp file", async () => {
  const p = join(root, "stream.bin");
  await streamFileAtomic(p, async (write) => {
    await write(new Uint8Array([1, 2]));
    await write(new Uint8Array([3]));
  });
  assert.deepEqual([...readFileSync(p)], [1, 2, 3]);
  await assert.rejects(
    streamFileAtomic(p, async (write) => {
      await write(new Uint8Array([9]));
      throw new Error("producer failed");
    }),
    /producer failed/,
  );
  assert.deepEqual([...readFileSync(p)], [1, 2, 3]);
  assert.deepEqual(
    readdirSync(root).filter((n) => n.includes("stream")),
    ["stream.bin"],
  );
});

test("writeDirAtomic: swaps the folder in whole; a failing fill keeps the old folder; never replaces a file", async () => {
  const d = join(root, "dir-out");
  await writeDirAtomic(d, (tmp) => writeFileSync(join(tmp, "one"), "1"));
  await writeDirAtomic(d, (tmp) => writeFileSync(join(tmp, "two"), "2"));
  assert.deepEqual(readdirSync(d), ["two"]);
  await assert.rejects(
    writeDirAtomic(d, (tmp) => {
      writeFileSync(join(tmp, "three"), "3");
      throw new Error("fill failed");
    }),
    /fill failed/,
  );
  assert.deepEqual(readdirSync(d), ["two"]);
  assert.deepEqual(
    readdirSync(root).filter((n) => n.startsWith("dir-out")),
    ["dir-out"],
  );
  const file = join(root, "a-file");
  writeFileSync(file, "keep me");
  await assert.rejects(
    writeDirAtomic(file, () => {}),
    /exists and is not a folder/,
  );
  assert.equal(readFileSync(file, "utf8"), "keep me");
  assert.throws(() => checkOutputDir(file), /not a folder/);
});

test("checkOutputFile names the path when it is a folder or under a file", () => {
  const dir = join(root, "is-dir");
  mkdirSync(dir);
  assert.throws(
    () => checkOutputFile(dir, "results .jsonl"),
    (e: Error) => e.message === `cannot write ${dir}: it is a folder (name the results .jsonl file)`,
  );
  const file = join(root, "plain");
  writeFileSync(file, "");
  const under = join(file, "x.json");
  assert.throws(
    () => checkOutputFile(under),
    (e: Error) => e.message === `cannot write ${under}: a part of its folder path is a file`,
  );
  checkOutputFile(join(root, "new", "deeper", "ok.json"));
  assert.ok(existsSync(join(root, "new", "deeper")));
});

test("removeStaleTempDirs clears temp/old entries of dead processes only", () => {
  const d = join(root, "stale");
  mkdirSync(d);
  const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], {
    encoding: "utf8",
  }).stdout;
  for (const n of [`checkpoint-5.tmp-${dead}`, `save.old-${dead}`, `mine.tmp-${process.pid}`, "checkpoint-5"])
    mkdirSync(join(d, n));
  writeFileSync(join(d, `.status.json.tmp-${dead}`), "{");
  assert.deepEqual(
    removeStaleTempDirs(d).sort(),
    [`.status.json.tmp-${dead}`, `checkpoint-5.tmp-${dead}`, `save.old-${dead}`].sort(),
  );
  assert.deepEqual(readdirSync(d).sort(), ["checkpoint-5", `mine.tmp-${process.pid}`].sort());
});
