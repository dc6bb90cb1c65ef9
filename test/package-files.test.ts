// What `npm pack` puts in the package: every relative link of the shipped Markdown (README, docs/, bench READMEs)
// resolves to a shipped file, LICENSE is there, no source maps, no tests, and the prebuilt addons' folder is listed.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join, normalize } from "node:path";
import { test } from "node:test";

const repo = join(import.meta.dirname, "..");

test("the packed file list: links resolve, LICENSE, no .map files, no tests", () => {
  const r = spawnSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: repo, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const files = new Set<string>((JSON.parse(r.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path));
  assert.ok(files.has("LICENSE") && readFileSync(join(repo, "LICENSE"), "utf8").includes("Apache License"));
  assert.ok(files.has("package.json") && files.has("README.md") && files.has("scripts/build-native.mjs"));
  assert.ok(files.has("dist/src/index.js") && files.has("dist/src/index.d.ts") && files.has("dist/src/cli/main.js"));
  assert.deepEqual(
    [...files].filter((f) => f.endsWith(".map")),
    [],
    "no source maps (their sources are not shipped)",
  );
  assert.deepEqual(
    [...files].filter((f) => f.startsWith("test/") || f.startsWith("dist/test/")),
    [],
    "no tests",
  );
  const pkg = JSON.parse(readFileSync(join(repo, "package.json"), "utf8"));
  assert.ok(pkg.files.includes("prebuilds"));
  for (const k of ["repository", "homepage", "bugs"]) assert.ok(pkg[k], `package.json has ${k}`);
  const broken: string[] = [];
  for (const md of [...files].filter((f) => f.endsWith(".md"))) {
    const text = readFileSync(join(repo, md), "utf8");
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1]!.split("#")[0]!;
      if (!target || /^[a-z]+:/i.test(target)) continue; // anchors in the same file, absolute URLs
      const path = normalize(join(dirname(md), target));
      if (!files.has(path) && ![...files].some((f) => f.startsWith(path + "/"))) broken.push(`${md} → ${m[1]}`);
    }
  }
  assert.deepEqual(broken, [], "relative links of the shipped Markdown that point outside the package");
});
