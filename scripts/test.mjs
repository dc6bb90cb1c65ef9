#!/usr/bin/env node
// `npm test`: the whole suite, in three parts.
//   1. tsc: type-check and emit dist/ (the CLI and package entry points).
//   2. native core tests: plain CMake build of native/ (no Node) + ctest.
//   3. node's test runner over test/**/*.test.ts (TypeScript loaded through tsx).
//   0. style (SQLFOCUS_STYLE_CHECKS=0 skips it): `npm run lint` (ESLint) and `npm run format:check` (Prettier, clang-format).
// `npm test -- <path or substring> …` runs only the matching test files (and skips 0-2 unless --all).
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { availableParallelism } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const all = args.includes("--all");
const filters = args.filter((a) => !a.startsWith("--"));

// The style step runs with every full `npm test`; SQLFOCUS_STYLE_CHECKS=0 skips it (e.g. while iterating).
const STYLE_CHECKS = process.env.SQLFOCUS_STYLE_CHECKS !== "0";

function run(title, cmd, cmdArgs, opts = {}) {
  console.log(`\n=== ${title}: ${cmd} ${cmdArgs.join(" ")}`);
  const r = spawnSync(cmd, cmdArgs, { cwd: root, stdio: "inherit", ...opts });
  if (r.status !== 0) {
    console.error(`=== ${title} failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status || 1);
  }
}

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (name.endsWith(".test.ts")) out.push(relative(root, p));
  }
  return out.sort();
}

if ((filters.length === 0 || all) && STYLE_CHECKS) {
  run("lint", process.execPath, [join(root, "node_modules", "eslint", "bin", "eslint.js"), "."]);
  run("format", process.execPath, [join(root, "scripts", "format.mjs"), "--check"]);
}
if (filters.length === 0 || all) {
  run("typescript", process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json"]);
  const jobs = String(availableParallelism());
  run("native configure", "cmake", [
    "-S",
    ".",
    "-B",
    "build-tests",
    "-DCMAKE_BUILD_TYPE=Release",
    "-DSQLFOCUS_TESTS=ON",
  ]);
  run("native build", "cmake", ["--build", "build-tests", "--parallel", jobs]);
  run("native tests", "ctest", ["--test-dir", "build-tests", "--output-on-failure"]);
}

let files = findTests(join(root, "test"));
if (filters.length) files = files.filter((f) => filters.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error("no test files matched");
  process.exit(1);
}
run("node tests", process.execPath, ["--import", "tsx", "--test", "--test-reporter=spec", ...files]);
