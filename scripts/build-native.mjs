#!/usr/bin/env node
// The native addon (sqlfocus.node): a prebuilt binary where the package ships one for this machine, else built here.
//
//   node scripts/build-native.mjs             npm's install hook. Uses prebuilds/<platform>-<arch>/ (node-gyp-build's
//                                             layout) when the binary there loads on this machine; otherwise builds
//                                             from source into build/Release (cmake-js; node-gyp where cmake is
//                                             missing). In an installed package a failed build does not fail the
//                                             install: it is reported, its reason kept in build/native-build-error.txt,
//                                             and the engine names it at first use (retry: npm rebuild sqlfocus). In a
//                                             clone (a .git beside package.json) a failed build fails the install.
//   node scripts/build-native.mjs --force     npm run build:native: build from source; a failure exits 1.
//   node scripts/build-native.mjs --prebuild  npm pack's prepack: the portable binaries shipped in the package,
//                                             prebuilds/linux-x64 (and prebuilds/linux-arm64 where Debian's cross
//                                             compiler aarch64-linux-gnu-g++ is installed), built with
//                                             SQLFOCUS_NATIVE_ARCH=OFF and SQLFOCUS_CUDA=off (never -march=native).
//
// Either build compiles the x86 SIMD kernels once per level and picks one at run time, so a binary runs on any x86-64.
// Environment: SQLFOCUS_CUDA=auto|on|off (default auto; "on" also skips the prebuilt binary),
//              SQLFOCUS_BUILD_FROM_SOURCE=1 (ignore prebuilt binaries), SQLFOCUS_SKIP_NATIVE=1 (do nothing),
//              SQLFOCUS_NATIVE_ARCH=1 (add -march=native to the portable code: a local build that may not run on
//              another CPU), SQLFOCUS_BUILD=gyp (node-gyp, CPU only), SQLFOCUS_MPI=0 (no data-parallel MPI
//              support; libmpi is otherwise opened at run time, never linked).
import { spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
const mode = args.includes("--prebuild") ? "prebuild" : args.includes("--force") ? "force" : "install";
const addon = join(root, "build", "Release", "sqlfocus.node");
const errorFile = join(root, "build", "native-build-error.txt");
const inClone = existsSync(join(root, ".git"));

const log = (msg) => console.log(`sqlfocus: ${msg}`);

function run(cmd, cmdArgs, env = process.env) {
  log(
    `${cmd === process.execPath ? "node" : cmd} ${cmdArgs.map((a) => (relative(root, a).startsWith("..") ? a : relative(root, a) || a)).join(" ")}`,
  );
  const r = spawnSync(cmd, cmdArgs, { cwd: root, stdio: "inherit", env });
  return r.status === 0;
}

function hasCmake() {
  return spawnSync("cmake", ["--version"], { stdio: "ignore" }).status === 0;
}

/** node-llama-cpp's llama.cpp git bundle (headers for the quantizer), found by module resolution; null if absent. */
function llamaBundle() {
  try {
    let dir = dirname(require.resolve("node-llama-cpp"));
    while (!existsSync(join(dir, "package.json"))) dir = dirname(dir);
    const bundle = join(dir, "llama", "gitRelease.bundle");
    return existsSync(bundle) ? bundle : null;
  } catch {
    return null;
  }
}

function cmakeJs() {
  return join(dirname(require.resolve("cmake-js/package.json")), "bin", "cmake-js");
}

/** A cmake-js build; `extra` are --CD… definitions, `out` the build folder. Returns the .node path or null. */
function cmakeBuild({ out = "build", rebuild = false, cuda, nativeArch, extra = [] }) {
  const bundle = llamaBundle();
  const ok = run(process.execPath, [
    cmakeJs(),
    rebuild ? "rebuild" : "compile",
    "--config",
    "Release",
    "--out",
    out,
    "--parallel",
    String(Math.max(1, availableParallelism())),
    `--CDSQLFOCUS_CUDA=${cuda}`,
    `--CDSQLFOCUS_NATIVE_ARCH=${nativeArch}`,
    `--CDSQLFOCUS_MPI=${process.env.SQLFOCUS_MPI === "0" ? "OFF" : "ON"}`,
    ...(bundle ? [`--CDSQLFOCUS_LLAMA_BUNDLE=${bundle}`] : []),
    ...extra,
  ]);
  const built = join(root, out, "Release", "sqlfocus.node");
  return ok && existsSync(built) ? built : null;
}

function gypBuild() {
  // npm ships node-gyp and names it in npm_config_node_gyp while running install scripts; outside npm, look
  // beside the npm that runs us, then on the PATH.
  const npmGyp = join(
    dirname(process.execPath),
    "..",
    "lib",
    "node_modules",
    "npm",
    "node_modules",
    "node-gyp",
    "bin",
    "node-gyp.js",
  );
  const gypJs = [process.env.npm_config_node_gyp, npmGyp].find((p) => p && existsSync(p));
  // Offline, node-gyp must not download Node's headers: use the ones installed beside this node when present.
  const prefix = join(dirname(process.execPath), "..");
  const nodedir =
    process.env.npm_config_nodedir ?? (existsSync(join(prefix, "include", "node", "node_api.h")) ? prefix : null);
  const gypArgs = ["rebuild", "--release", ...(nodedir ? [`--nodedir=${nodedir}`] : [])];
  return gypJs ? run(process.execPath, [gypJs, ...gypArgs]) : run("node-gyp", gypArgs);
}

/** Builds build/Release/sqlfocus.node from source; returns an error text, or null on success. */
function buildFromSource() {
  const cuda = process.env.SQLFOCUS_CUDA ?? "auto";
  const nativeArch = process.env.SQLFOCUS_NATIVE_ARCH === "1" ? "ON" : "OFF";
  let why;
  if (process.env.SQLFOCUS_BUILD !== "gyp" && hasCmake()) {
    if (cmakeBuild({ rebuild: mode === "force", cuda, nativeArch })) return null;
    why = "cmake-js build failed";
    console.error(`sqlfocus: ${why}; trying node-gyp`);
  } else {
    log(
      process.env.SQLFOCUS_BUILD === "gyp"
        ? "SQLFOCUS_BUILD=gyp, building with node-gyp (CPU engine only)"
        : "cmake not found, building with node-gyp (CPU engine only)",
    );
    why = "cmake not found";
  }
  if (gypBuild() && existsSync(addon)) return null;
  return `${why}; node-gyp build failed too (needs a C++17 compiler with OpenMP, and cmake or python3 + make)`;
}

/** The prebuilt binary node-gyp-build would load here (null when none fits), and whether it loads. */
function usablePrebuild() {
  let path;
  try {
    const load = require("node-gyp-build");
    path = load.resolve(root);
  } catch {
    return null;
  }
  if (!path.startsWith(join(root, "prebuilds"))) return null;
  const r = spawnSync(process.execPath, ["-e", `require(${JSON.stringify(path)}).buildInfo()`], { encoding: "utf8" });
  if (r.status !== 0) {
    log(
      `the prebuilt ${relative(root, path)} does not load here (${(r.stderr || "").trim().split("\n").slice(-3).join(" ")}); building from source`,
    );
    return null;
  }
  return path;
}

/** Newest modification time (ms) of the files the addon is built from. */
function newestSource(dir = join(root, "native"), newest = statSync(join(root, "CMakeLists.txt")).mtimeMs) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    newest = st.isDirectory() ? newestSource(p, newest) : Math.max(newest, st.mtimeMs);
  }
  return newest;
}

/**
 * The clone's own build/Release addon when it is already what the prebuilt one would be: configured portable
 * (SQLFOCUS_NATIVE_ARCH=OFF), without CUDA, with the quantizer, and newer than every native source. Saves a second
 * full build in CI, where `npm ci` has just built it.
 */
function reusableHostBuild() {
  try {
    const cache = readFileSync(join(root, "build", "CMakeCache.txt"), "utf8");
    if (!/^SQLFOCUS_NATIVE_ARCH:BOOL=OFF$/m.test(cache)) return null;
    if (statSync(addon).mtimeMs < newestSource()) return null;
    const r = spawnSync(
      process.execPath,
      [
        "-e",
        `const a=require(${JSON.stringify(addon)}); process.stdout.write(JSON.stringify({ cuda: a.buildInfo().cuda, quantizer: a.quantizerBuilt === true }))`,
      ],
      { encoding: "utf8" },
    );
    const info = JSON.parse(r.stdout || "{}");
    return r.status === 0 && info.cuda === false && info.quantizer === true ? addon : null;
  } catch {
    return null;
  }
}

function prebuild() {
  const targets = [];
  if (process.platform === "linux" && process.arch === "x64") targets.push({ tuple: "linux-x64", extra: [] });
  if (
    process.platform === "linux" &&
    spawnSync("aarch64-linux-gnu-g++", ["--version"], { stdio: "ignore" }).status === 0
  ) {
    targets.push({
      tuple: "linux-arm64",
      extra: [
        "--CDCMAKE_SYSTEM_NAME=Linux",
        "--CDCMAKE_SYSTEM_PROCESSOR=aarch64",
        "--CDCMAKE_C_COMPILER=aarch64-linux-gnu-gcc",
        "--CDCMAKE_CXX_COMPILER=aarch64-linux-gnu-g++",
      ],
      strip: "aarch64-linux-gnu-strip",
    });
  } else if (process.platform === "linux" && process.arch === "x64") {
    log(
      "aarch64-linux-gnu-g++ not found: no linux-arm64 prebuilt binary (apt-get install g++-aarch64-linux-gnu to add one)",
    );
  }
  if (targets.length === 0) {
    console.error(`sqlfocus: --prebuild makes linux binaries; nothing to build on ${process.platform}-${process.arch}`);
    process.exit(1);
  }
  if (!llamaBundle()) {
    console.error(
      "sqlfocus: --prebuild needs node-llama-cpp installed (its llama.cpp bundle gives the quantizer's headers)",
    );
    process.exit(1);
  }
  if (!hasCmake()) {
    console.error("sqlfocus: warning: cmake not found: packing without prebuilt binaries");
    if (process.env.npm_command === "publish" || process.env.SQLFOCUS_PREBUILD_REQUIRED === "1") process.exit(1);
    return;
  }
  rmSync(join(root, "prebuilds"), { recursive: true, force: true });
  for (const t of targets) {
    const reused = t.tuple === `${process.platform}-${process.arch}` ? reusableHostBuild() : null;
    if (reused) log(`${relative(root, reused)} is already portable, CPU-only and up to date: using it for ${t.tuple}`);
    const built =
      reused ?? cmakeBuild({ out: `build-prebuild/${t.tuple}`, cuda: "off", nativeArch: "OFF", extra: t.extra });
    if (!built) {
      // A git-URL install packs the package too (prepare, then prepack): without a compiler it goes on without
      // prebuilt binaries (the install then builds from source, or reports). npm publish must not.
      const strict = process.env.npm_command === "publish" || process.env.SQLFOCUS_PREBUILD_REQUIRED === "1";
      console.error(
        `sqlfocus: ${strict ? "" : "warning: "}the ${t.tuple} prebuilt binary failed to build${strict ? "" : "; packing without it"}`,
      );
      if (strict) process.exit(1);
      continue;
    }
    const dir = join(root, "prebuilds", t.tuple);
    mkdirSync(dir, { recursive: true });
    const dest = join(dir, "node.napi.glibc.node"); // the name prebuildify gives it: any Node with N-API 8, glibc
    copyFileSync(built, dest);
    spawnSync(t.strip ?? "strip", ["--strip-unneeded", dest], { stdio: "inherit" });
    log(`prebuilt ${relative(root, dest)} (${(readFileSync(dest).byteLength / 1e6).toFixed(1)} MB)`);
  }
}

if (process.env.SQLFOCUS_SKIP_NATIVE === "1") {
  log("SQLFOCUS_SKIP_NATIVE=1, not building the native addon");
  process.exit(0);
}
if (mode === "prebuild") {
  prebuild();
  process.exit(0);
}
if (mode === "install" && process.env.SQLFOCUS_BUILD_FROM_SOURCE !== "1" && process.env.SQLFOCUS_CUDA !== "on") {
  const pre = usablePrebuild();
  if (pre) {
    rmSync(errorFile, { force: true });
    log(
      `using the prebuilt addon ${relative(root, pre)} (SQLFOCUS_BUILD_FROM_SOURCE=1 npm rebuild sqlfocus builds it here instead)`,
    );
    process.exit(0);
  }
}
const failure = buildFromSource();
if (failure === null) {
  rmSync(errorFile, { force: true });
  log(`built ${relative(root, addon)}`);
  process.exit(0);
}
const message =
  `the native addon could not be built: ${failure}.\n` +
  "  sqlfocus is installed, but training and quantization need the addon (the rest works without it).\n" +
  "  Install cmake, a C++17 compiler and git, then run: npm rebuild sqlfocus\n" +
  "  (README: 'Building from source').";
if (mode === "force" || inClone) {
  console.error(`sqlfocus: ${message}`);
  process.exit(1);
}
mkdirSync(dirname(errorFile), { recursive: true });
writeFileSync(errorFile, `${message}\n`);
console.warn(`sqlfocus: warning: ${message}`);
process.exit(0);
