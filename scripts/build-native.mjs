#!/usr/bin/env node
// Builds the native addon (build/Release/sqlfocus.node) on `npm i`.
//   1. cmake-js (CMakeLists.txt): Release, SIMD kernels for every x86 level chosen at run time, CUDA engine when a
//      CUDA toolkit with cuBLAS is found.
//   2. node-gyp (binding.gyp): the same CPU sources, where cmake is missing.
// Environment: SQLFOCUS_CUDA=auto|on|off (default auto), SQLFOCUS_SKIP_NATIVE=1 to skip,
//              SQLFOCUS_NATIVE_ARCH=1 to add -march=native to the portable code (a local build: the binary may
//              not run on another CPU; the SIMD kernels are chosen at run time either way),
//              SQLFOCUS_BUILD=gyp to use node-gyp even where cmake is present,
//              SQLFOCUS_MPI=0 for a build without data-parallel MPI support (libmpi is otherwise opened at run time).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
const force = process.argv.includes("--force");
const addon = join(root, "build", "Release", "sqlfocus.node");

if (process.env.SQLFOCUS_SKIP_NATIVE === "1") {
  console.log("sqlfocus: SQLFOCUS_SKIP_NATIVE=1, not building the native addon");
  process.exit(0);
}

function run(cmd, args) {
  console.log(`sqlfocus: ${cmd} ${args.join(" ")}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit", env: process.env });
  return r.status === 0;
}

function hasCmake() {
  if (process.env.SQLFOCUS_BUILD === "gyp") return false;
  const r = spawnSync("cmake", ["--version"], { stdio: "ignore" });
  return r.status === 0;
}

const cuda = process.env.SQLFOCUS_CUDA ?? "auto";
const nativeArch = process.env.SQLFOCUS_NATIVE_ARCH === "1" ? "ON" : "OFF";
const mpi = process.env.SQLFOCUS_MPI === "0" ? "OFF" : "ON";
let ok = false;
if (hasCmake()) {
  const cmakeJs = join(dirname(require.resolve("cmake-js/package.json")), "bin", "cmake-js");
  const parallel = String(Math.max(1, (await import("node:os")).availableParallelism()));
  ok = run(process.execPath, [cmakeJs, force ? "rebuild" : "compile", "--config", "Release",
    "--parallel", parallel,
    `--CDSQLFOCUS_CUDA=${cuda}`, `--CDSQLFOCUS_NATIVE_ARCH=${nativeArch}`, `--CDSQLFOCUS_MPI=${mpi}`]);
  if (!ok) console.error("sqlfocus: cmake-js build failed");
} else {
  console.log(process.env.SQLFOCUS_BUILD === "gyp" ? "sqlfocus: SQLFOCUS_BUILD=gyp, building with node-gyp (CPU engine only)" : "sqlfocus: cmake not found, falling back to node-gyp (CPU engine only)");
}
if (!ok) {
  // npm ships node-gyp and names it in npm_config_node_gyp while running install scripts; outside npm, look
  // beside the npm that runs us, then on the PATH.
  const npmGyp = join(dirname(process.execPath), "..", "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js");
  const gypJs = [process.env.npm_config_node_gyp, npmGyp].find((p) => p && existsSync(p));
  // Offline, node-gyp must not download Node's headers: use the ones installed beside this node when present
  // (npm passes its own nodedir setting as npm_config_nodedir).
  const prefix = join(dirname(process.execPath), "..");
  const nodedir = process.env.npm_config_nodedir ?? (existsSync(join(prefix, "include", "node", "node_api.h")) ? prefix : null);
  const gypArgs = ["rebuild", "--release", ...(nodedir ? [`--nodedir=${nodedir}`] : [])];
  ok = gypJs ? run(process.execPath, [gypJs, ...gypArgs]) : run("node-gyp", gypArgs);
}
if (!ok || !existsSync(addon)) {
  console.error(`sqlfocus: the native addon could not be built (${addon} is missing).\n` +
    "  Needs a C++17 compiler and cmake (or python3 + make for node-gyp). See README.md, 'Building'.");
  process.exit(1);
}
console.log(`sqlfocus: built ${addon}`);
