// The eval results file: a folder or a path under a file is an error naming it, before any question is asked.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { prepareResultsPath } from "../src/eval/index.js";

const root = mkdtempSync(join(tmpdir(), "sqlfocus-eval-results-path-"));
after(() => rmSync(root, { recursive: true, force: true }));

test("prepareResultsPath: makes the folder; refuses a folder or a path under a file, naming it", () => {
  const ok = join(root, "a", "b", "results.jsonl");
  prepareResultsPath(ok);
  assert.deepEqual(readdirSync(join(root, "a")), ["b"]);
  const folder = join(root, "folder");
  mkdirSync(folder);
  assert.throws(
    () => prepareResultsPath(folder),
    (err: Error) => err.message === `cannot write ${folder}: it is a folder (name the results .jsonl file)`,
  );
  const file = join(root, "notes.txt");
  writeFileSync(file, "keep me\n");
  const under = join(file, "results.jsonl");
  assert.throws(
    () => prepareResultsPath(under),
    (err: Error) => err.message === `cannot write ${under}: a part of its folder path is a file`,
  );
  assert.equal(readFileSync(file, "utf8"), "keep me\n");
});
