#!/usr/bin/env node
// One command for the code style: Prettier for TypeScript/JavaScript/JSON (.prettierrc.json, .prettierignore) and
// clang-format for the C++/CUDA sources (.clang-format).
//   node scripts/format.mjs            rewrite files in place (npm run format)
//   node scripts/format.mjs --check    change nothing; exit 1 listing the files that are not formatted (npm run format:check)
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const check = process.argv.includes("--check");
const NATIVE_EXT = /\.(c|cc|cpp|h|hpp|cu|cuh)$/;
const SKIP_DIRS = new Set(["node_modules", "dist", "build", "prebuilds", ".git", "fixtures"]);

/** The C++/CUDA sources under native/, bench/ and test/ (build outputs and fixtures left out). */
function nativeFiles(dir = root, out = []) {
  for (const name of readdirSync(dir)) {
    if (SKIP_DIRS.has(name) || name.startsWith("build-")) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (dir !== root || ["native", "bench", "test"].includes(name)) nativeFiles(p, out);
    } else if (NATIVE_EXT.test(name)) out.push(relative(root, p));
  }
  return out.sort();
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit" });
  if (r.error) {
    console.error(
      `format: cannot run ${cmd}: ${r.error.message}${cmd === "clang-format" ? " (apt-get install clang-format)" : ""}`,
    );
    return false;
  }
  return r.status === 0;
}

const prettier = join(root, "node_modules", "prettier", "bin", "prettier.cjs");
let ok = run(process.execPath, [prettier, check ? "--check" : "--write", "--log-level", "warn", "."]);
const files = nativeFiles();
// The C++/CUDA tree is formatted with clang-format 14 (Debian 12's; .ci/run installs it). Other versions lay out
// some constructs differently, so a check with one of them (or without clang-format) is skipped with a notice
// rather than failing a contributor's `npm test`; under CI a missing clang-format is an error.
const CLANG_FORMAT_MAJOR = 14;
const probe = spawnSync("clang-format", ["--version"], { encoding: "utf8" });
const major = probe.error ? undefined : Number(/version (\d+)/.exec(probe.stdout)?.[1]);
let nativeNote = `${files.length} C++/CUDA files`;
if (check && major !== CLANG_FORMAT_MAJOR && !(major === undefined && process.env.CI === "true")) {
  nativeNote =
    `no C++/CUDA files: ${major === undefined ? "clang-format not found" : `clang-format ${major}`} ` +
    `(the tree is formatted with clang-format ${CLANG_FORMAT_MAJOR}: apt-get install clang-format on Debian 12)`;
} else {
  if (major !== undefined && major !== CLANG_FORMAT_MAJOR)
    console.warn(
      `format: clang-format ${major} may lay out C++ differently from the tree's clang-format ${CLANG_FORMAT_MAJOR}`,
    );
  ok = run("clang-format", [...(check ? ["--dry-run", "--Werror"] : ["-i"]), "--style=file", ...files]) && ok;
}
if (!ok) {
  console.error(
    check && major !== undefined ? "format: files above are not formatted; run npm run format" : "format: failed",
  );
  process.exit(1);
}
console.log(`format: ${check ? "checked" : "formatted"} the TypeScript/JSON tree and ${nativeNote}`);
