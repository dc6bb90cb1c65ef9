// The addon's Quantizer (native/addon/quantizer.cpp) and where llama.cpp's library comes from: the prebuilt
// libllama that node-llama-cpp ships for this platform (node_modules/@node-llama-cpp/<platform>/bins/<platform>/).
import { existsSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { loadAddon, type NativeQuantizer } from "../native/index.js";

export type { NativeQuantizeOptions, NativeQuantizer } from "../native/index.js";

/** node-llama-cpp's platform package name for this machine (only the CPU builds are used here). */
function platformPackage(): string {
  const arch = process.arch;
  if (process.platform === "linux") return `linux-${arch}`;
  if (process.platform === "darwin") return arch === "arm64" ? "mac-arm64-metal" : `mac-${arch}`;
  if (process.platform === "win32") return `win-${arch}`;
  return `${process.platform}-${arch}`;
}

/** The folder of the package whose entry `resolved` is (the nearest folder above it with a package.json). */
function packageDirOf(resolved: string): string {
  let dir = dirname(resolved);
  while (!existsSync(join(dir, "package.json"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${resolved}`);
    dir = up;
  }
  return dir;
}

/**
 * node-llama-cpp's package folder, found by Node's module resolution from sqlfocus's own location (so wherever npm put
 * it: hoisted into a project's node_modules, or nested under sqlfocus's), or null when it is not installed.
 */
export function findNodeLlamaCpp(from: string = import.meta.url): string | null {
  try {
    return packageDirOf(createRequire(from).resolve("node-llama-cpp"));
  } catch {
    return null;
  }
}

/**
 * The path of node-llama-cpp's prebuilt libllama for this platform (env SQLFOCUS_LIBLLAMA overrides): the
 * @node-llama-cpp/<platform> package, resolved from node-llama-cpp's own folder as node-llama-cpp resolves it.
 * Throws a clear error where it cannot be found. `from` (a file path or URL) is where resolution starts (default:
 * this module, i.e. the installed sqlfocus package).
 */
export function findLibllama(from: string = import.meta.url): string {
  const override = process.env.SQLFOCUS_LIBLLAMA;
  if (override) {
    if (!existsSync(override)) throw new Error(`SQLFOCUS_LIBLLAMA=${override}: no such file`);
    return override;
  }
  const nlcDir = findNodeLlamaCpp(from);
  if (!nlcDir)
    throw new Error(
      "llama.cpp's quantizer needs node-llama-cpp, a dependency of sqlfocus, which is not installed: reinstall sqlfocus (npm i sqlfocus)",
    );
  const pkg = platformPackage();
  const candidates: string[] = [];
  try {
    const pkgDir = packageDirOf(createRequire(join(nlcDir, "package.json")).resolve(`@node-llama-cpp/${pkg}`));
    candidates.push(join(pkgDir, "bins", pkg));
  } catch {
    /* not installed for this platform: the message below says so */
  }
  const libRe =
    process.platform === "win32"
      ? /^llama.*\.dll$/
      : /^libllama(\.v[\d.]+)?\.(so|dylib)$|^libllama\.[\d.]*\.?(so|dylib)$/;
  for (const dir of candidates) {
    if (!existsSync(dir)) continue;
    const lib = readdirSync(dir).find((f) => libRe.test(f));
    if (lib) return join(dir, lib);
  }
  throw new Error(
    `llama.cpp's library was not found for ${process.platform}-${process.arch}: sqlfocus's quantizer uses the prebuilt libllama of ` +
      `node-llama-cpp's optional package @node-llama-cpp/${pkg}, which ${candidates.length ? `has no libllama in ${candidates[0]}` : `is not installed beside ${nlcDir}`} ` +
      "(reinstall without --no-optional/--omit=optional, or set SQLFOCUS_LIBLLAMA to a libllama path)",
  );
}

/** node-llama-cpp's libggml-base beside its libllama (exports ggml_quantize_chunk), or undefined when absent. */
export function findLibggmlBase(libllama: string): string | undefined {
  const dir = dirname(libllama);
  const re =
    process.platform === "win32"
      ? /^ggml-base\.dll$/
      : /^libggml-base(\.[\d.]+)?\.(so|dylib)$|^libggml-base\.so(\.[\d.]+)?$/;
  const lib = readdirSync(dir).find((f) => re.test(f));
  return lib ? join(dir, lib) : undefined;
}

let cached: NativeQuantizer | undefined;

/** The addon's quantizer over node-llama-cpp's libllama, loaded once; clear errors when unavailable. */
export function nativeQuantizer(): NativeQuantizer {
  if (cached) return cached;
  const addon = loadAddon();
  if (!addon.quantizerBuilt || !addon.Quantizer) {
    throw new Error(
      "the native addon was built without llama.cpp's quantizer (node-llama-cpp's llama.cpp bundle or git was missing at build time); " +
        "rebuild it with 'npm rebuild sqlfocus' (needs cmake, a C++17 compiler and git)",
    );
  }
  const libllama = findLibllama();
  const base = findLibggmlBase(libllama);
  cached = base ? new addon.Quantizer(libllama, base) : new addon.Quantizer(libllama);
  return cached;
}
