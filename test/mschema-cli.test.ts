// `sqlfocus mschema` bad input as a user meets it: --out that is a folder or under a file, an unreadable --ddl file.
// One line naming the option and path, exit 1, nothing left behind.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

const root = mkdtempSync(join(tmpdir(), "sqlfocus-mschema-cli-"));
after(() => rmSync(root, { recursive: true, force: true }));

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", "mschema", ...args], {
    encoding: "utf8",
  });
  return { status: r.status, stderr: r.stderr.trim() };
}

const ddl = join(root, "schema.sql");
writeFileSync(ddl, "CREATE TABLE shop (id INTEGER PRIMARY KEY, name TEXT);\n");

test("mschema --out: a folder or a path under a file is one clear line; nothing is left behind", () => {
  const folder = join(root, "folder");
  mkdirSync(folder);
  let r = cli("--ddl", ddl, "--out", folder);
  assert.equal(r.status, 1);
  assert.equal(r.stderr, `sqlfocus: --out ${folder}: is a folder (name the output file)`);
  const file = join(root, "notes.txt");
  writeFileSync(file, "keep me\n");
  r = cli("--ddl", ddl, "--out", join(file, "x.txt"));
  assert.equal(r.status, 1);
  assert.equal(r.stderr, `sqlfocus: --out ${join(file, "x.txt")}: cannot write (ENOTDIR)`);
  assert.equal(readFileSync(file, "utf8"), "keep me\n");
  assert.deepEqual(readdirSync(root).sort(), ["folder", "notes.txt", "schema.sql"]);
  assert.deepEqual(readdirSync(folder), []);
  r = cli("--ddl", ddl, "--out", join(root, "ok.txt"));
  assert.equal(r.status, 0, r.stderr);
  assert.match(readFileSync(join(root, "ok.txt"), "utf8"), /# Table: shop/);
});

test("mschema --ddl of a missing file names it", () => {
  const missing = join(root, "nope.sql");
  const r = cli("--ddl", missing);
  assert.equal(r.status, 1);
  assert.equal(r.stderr, `sqlfocus: --ddl ${missing}: cannot read (ENOENT)`);
});
