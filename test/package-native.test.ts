// The native parts as an installed package meets them (the full flow, npm pack → npm i in a fresh project, is
// scripts/consumer-check.sh, run by .ci/run):
//   - node-llama-cpp and its platform package are found by module resolution wherever npm put them (hoisted);
//   - the install hook uses a prebuilt binary (prebuilds/<platform>-<arch>/) when it loads, else builds from source;
//   - a failed build leaves the install in place (exit 0) with the reason kept, and the first use of the engine
//     says so and how to retry (npm rebuild sqlfocus); in a clone a failed build fails the install.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, test } from "node:test";
import { findLibllama } from "../src/gguf/index.js";

const repo = join(import.meta.dirname, "..");
const tmp = mkdtempSync(join(tmpdir(), "sqlfocus-pkgnative-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

function write(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

/** A project whose node_modules has sqlfocus and node-llama-cpp side by side (hoisted), and optionally its platform package. */
function hoistedProject(name: string, platformPackage: "none" | "empty" | "lib"): string {
  const nm = join(tmp, name, "node_modules");
  const pkg = `linux-${process.arch}`;
  const esm = (n: string) =>
    JSON.stringify({
      name: n,
      type: "module",
      exports: { ".": { import: "./dist/index.js", node: "./dist/index.js", default: "./dist/index.js" } },
    });
  write(join(nm, "sqlfocus", "package.json"), JSON.stringify({ name: "sqlfocus", type: "module" }));
  write(join(nm, "sqlfocus", "dist", "src", "gguf", "native.js"), "");
  write(join(nm, "node-llama-cpp", "package.json"), esm("node-llama-cpp"));
  write(join(nm, "node-llama-cpp", "dist", "index.js"), "");
  if (platformPackage !== "none") {
    write(join(nm, "@node-llama-cpp", pkg, "package.json"), esm(`@node-llama-cpp/${pkg}`));
    write(join(nm, "@node-llama-cpp", pkg, "dist", "index.js"), "");
    mkdirSync(join(nm, "@node-llama-cpp", pkg, "bins", pkg), { recursive: true });
    if (platformPackage === "lib") write(join(nm, "@node-llama-cpp", pkg, "bins", pkg, "libllama.so"), "");
  }
  return join(nm, "sqlfocus", "dist", "src", "gguf", "native.js");
}

test(
  "findLibllama: node-llama-cpp hoisted beside sqlfocus in a project's node_modules, found by module resolution",
  { skip: process.platform !== "linux" },
  () => {
    const pkg = `linux-${process.arch}`;
    const from = hoistedProject("hoisted", "lib");
    assert.equal(
      findLibllama(from),
      join(tmp, "hoisted", "node_modules", "@node-llama-cpp", pkg, "bins", pkg, "libllama.so"),
    );
    // the platform package not installed (e.g. --omit=optional): the error names it and the fix
    assert.throws(
      () => findLibllama(hoistedProject("no-platform", "none")),
      (e: Error) =>
        e.message.includes(`@node-llama-cpp/${pkg}`) &&
        e.message.includes("is not installed beside") &&
        e.message.includes("SQLFOCUS_LIBLLAMA"),
    );
    assert.throws(() => findLibllama(hoistedProject("no-lib", "empty")), /has no libllama in .*bins/);
    // nothing installed at all
    const bare = join(tmp, "bare", "node_modules", "sqlfocus", "dist", "x.js");
    write(bare, "");
    assert.throws(() => findLibllama(bare), /needs node-llama-cpp, a dependency of sqlfocus, which is not installed/);
  },
);

/** A package folder named sqlfocus with the install script and the addon loader, and repo's node_modules linked. */
function fakePackage(name: string, opts: { clone?: boolean; brokenSource?: boolean; prebuilt?: boolean }): string {
  const root = join(tmp, name);
  mkdirSync(join(root, "scripts"), { recursive: true });
  write(
    join(root, "package.json"),
    JSON.stringify({ name: "sqlfocus", version: "0.0.0-test", type: "module", binary: { napi_versions: [8] } }),
  );
  copyFileSync(join(repo, "scripts", "build-native.mjs"), join(root, "scripts", "build-native.mjs"));
  cpSync(join(repo, "src", "native"), join(root, "src", "native"), { recursive: true }); // the loader and its types
  symlinkSync(join(repo, "node_modules"), join(root, "node_modules"), "dir");
  if (opts.clone) mkdirSync(join(root, ".git"));
  if (opts.brokenSource) {
    write(
      join(root, "binding.gyp"),
      JSON.stringify({ targets: [{ target_name: "sqlfocus", sources: ["broken.cc"] }] }),
    );
    write(join(root, "broken.cc"), "#error this source does not compile\n");
  }
  if (opts.prebuilt) {
    const dir = join(root, "prebuilds", `${process.platform}-${process.arch}`);
    mkdirSync(dir, { recursive: true });
    copyFileSync(join(repo, "build", "Release", "sqlfocus.node"), join(dir, "node.napi.glibc.node"));
  }
  return root;
}

function install(root: string, env: Record<string, string> = {}) {
  const e: Record<string, string | undefined> = { ...process.env, SQLFOCUS_BUILD: "gyp", ...env };
  delete e.SQLFOCUS_ADDON;
  delete e.SQLFOCUS_SKIP_NATIVE;
  return spawnSync(process.execPath, [join(root, "scripts", "build-native.mjs")], {
    cwd: root,
    encoding: "utf8",
    env: e as NodeJS.ProcessEnv,
  });
}

function firstUse(root: string) {
  const code = `(async () => { try { const m = await import(${JSON.stringify(join(root, "src", "native", "index.ts"))}); const a = m.loadAddon(); console.log(m.addonPath()); console.log(JSON.stringify(a.buildInfo())); } catch (e) { console.log("ERR " + e.code + " " + e.message); } })()`;
  const env: Record<string, string | undefined> = { ...process.env };
  delete env.SQLFOCUS_ADDON;
  return spawnSync(process.execPath, ["--import", "tsx", "-e", code], {
    cwd: repo,
    encoding: "utf8",
    env: env as NodeJS.ProcessEnv,
  });
}

test("a failed source build leaves an installed package in place; the engine's first use names the failure and the fix", () => {
  const root = fakePackage("installed", { brokenSource: true });
  const r = install(root);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /warning: the native addon could not be built/);
  assert.match(r.stderr, /npm rebuild sqlfocus/);
  assert.match(readFileSync(join(root, "build", "native-build-error.txt"), "utf8"), /node-gyp build failed/);
  const use = firstUse(root);
  assert.match(use.stdout, /^ERR SQLFOCUS_NO_ADDON sqlfocus's native addon is not available for /);
  assert.match(use.stdout, /Its build failed when sqlfocus was installed: the native addon could not be built/);
  assert.match(use.stdout, /Build it with: npm rebuild sqlfocus/);
});

test("in a clone (a .git folder) and with --force a failed build fails", () => {
  const root = fakePackage("clone", { clone: true, brokenSource: true });
  const r = install(root);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /the native addon could not be built/);
  assert.ok(!existsSync(join(root, "build", "native-build-error.txt")));
  const f = spawnSync(
    process.execPath,
    [join(fakePackage("forced", { brokenSource: true }), "scripts", "build-native.mjs"), "--force"],
    { encoding: "utf8", env: { ...process.env, SQLFOCUS_BUILD: "gyp" } },
  );
  assert.equal(f.status, 1);
});

test(
  "the install hook uses a prebuilt binary that loads here, and the loader finds it",
  { skip: !existsSync(join(repo, "build", "Release", "sqlfocus.node")) || process.platform !== "linux" },
  () => {
    const root = fakePackage("prebuilt", { brokenSource: true, prebuilt: true });
    const r = install(root);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /using the prebuilt addon prebuilds\/linux-\w+\/node\.napi\.glibc\.node/);
    assert.ok(!existsSync(join(root, "build")), "nothing was built");
    const use = firstUse(root);
    const [path, info] = use.stdout.trim().split("\n");
    assert.equal(
      path,
      join(root, "prebuilds", `linux-${process.arch}`, "node.napi.glibc.node"),
      use.stdout + use.stderr,
    );
    assert.equal(typeof JSON.parse(info!).simd, "string");
    // SQLFOCUS_BUILD_FROM_SOURCE=1 skips it (here the source is broken, so the build fails, softly)
    const src = install(root, { SQLFOCUS_BUILD_FROM_SOURCE: "1" });
    assert.equal(src.status, 0);
    assert.match(src.stderr, /could not be built/);
  },
);
