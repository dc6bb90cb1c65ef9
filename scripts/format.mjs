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
ok = run("clang-format", [...(check ? ["--dry-run", "--Werror"] : ["-i"]), "--style=file", ...files]) && ok;
if (!ok) {
  console.error(check ? "format: files above are not formatted; run npm run format" : "format: failed");
  process.exit(1);
}
console.log(`format: ${check ? "checked" : "formatted"} the TypeScript/JSON tree and ${files.length} C++/CUDA files`);
