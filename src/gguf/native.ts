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

/**
 * The path of node-llama-cpp's prebuilt libllama for this platform (env SQLFOCUS_LIBLLAMA overrides).
 * Throws a clear error where it cannot be found.
 */
export function findLibllama(): string {
  const override = process.env.SQLFOCUS_LIBLLAMA;
  if (override) {
    if (!existsSync(override)) throw new Error(`SQLFOCUS_LIBLLAMA=${override}: no such file`);
    return override;
  }
  const require = createRequire(import.meta.url);
  let nlcDir: string;
  try {
    nlcDir = dirname(require.resolve("node-llama-cpp"));
    while (!existsSync(join(nlcDir, "package.json"))) nlcDir = dirname(nlcDir);
  } catch {
    throw new Error("llama.cpp's quantizer needs node-llama-cpp (npm install node-llama-cpp@3.21.1): it is not installed");
  }
  const pkg = platformPackage();
  const candidates = [join(nlcDir, "..", "@node-llama-cpp", pkg, "bins", pkg), join(nlcDir, "node_modules", "@node-llama-cpp", pkg, "bins", pkg)];
  const libRe = process.platform === "win32" ? /^llama.*\.dll$/ : /^libllama(\.v[\d.]+)?\.(so|dylib)$|^libllama\.[\d.]*\.?(so|dylib)$/;
  for (const dir of candidates) {
    if (!existsSync(dir)) continue;
    const lib = readdirSync(dir).find((f) => libRe.test(f));
    if (lib) return join(dir, lib);
  }
  throw new Error(
    `llama.cpp's library was not found for ${process.platform}-${process.arch} (looked in ${candidates.join(", ")}); ` +
      "sqlfocus's quantizer uses the prebuilt libllama of node-llama-cpp's @node-llama-cpp/" + pkg + " package (set SQLFOCUS_LIBLLAMA to a libllama path to override)",
  );
}

/** node-llama-cpp's libggml-base beside its libllama (exports ggml_quantize_chunk), or undefined when absent. */
export function findLibggmlBase(libllama: string): string | undefined {
  const dir = dirname(libllama);
  const re = process.platform === "win32" ? /^ggml-base\.dll$/ : /^libggml-base(\.[\d.]+)?\.(so|dylib)$|^libggml-base\.so(\.[\d.]+)?$/;
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
        "install node-llama-cpp@3.21.1 and run 'npm run build:native'",
    );
  }
  const libllama = findLibllama();
  const base = findLibggmlBase(libllama);
  cached = base ? new addon.Quantizer(libllama, base) : new addon.Quantizer(libllama);
  return cached;
}
