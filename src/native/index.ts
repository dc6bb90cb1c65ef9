// Loads the native addon (build/Release/sqlfocus.node, built on `npm i`) once, with a clear error if missing.
// Capability modules declare the typed view of the part they use (e.g. src/train/native.ts).
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export interface BuildInfo {
  cuda: boolean;
  /** The SIMD level the CPU kernels run at: portable | avx2 | avx512 | avx512bf16 (chosen at run time from the
   *  CPU; SQLFOCUS_CPU=<level> forces a lower one). */
  simd: string;
  /** The best level this CPU (and build) supports. */
  simdDetected: string;
  compiler: string;
}

export interface NativeAddon {
  buildInfo(): BuildInfo;
  /** Maps a whole file read-only (copy-on-write) into an ArrayBuffer; unmapped when collected. */
  /** A private memory map of the file, or of bytes [offset, offset+length) of it (at most 4 GiB per buffer). */
  mapFile(path: string, offset?: number, length?: number): ArrayBuffer;
}

/** The package root (the folder with sqlfocus's package.json), from src/ or dist/src/. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg)) {
      try {
        if (JSON.parse(readFileSync(pkg, "utf8")).name === "sqlfocus") return dir;
      } catch {
        /* keep looking */
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error("sqlfocus: cannot find the package root (package.json)");
    dir = up;
  }
}

let cached: NativeAddon | undefined;

/** The addon, loaded on first use. `T` is the caller's typed view of its part. */
export function loadAddon<T = object>(): NativeAddon & T {
  if (!cached) {
    const root = packageRoot();
    const candidates = [
      process.env.SQLFOCUS_ADDON,
      join(root, "build", "Release", "sqlfocus.node"),
      join(root, "build", "Debug", "sqlfocus.node"),
    ].filter((p): p is string => !!p);
    const path = candidates.find((p) => existsSync(p));
    if (!path) {
      throw new Error(
        `sqlfocus: the native addon is not built (looked for ${candidates.join(", ")}). ` +
          "Run 'npm run build:native' (needs cmake and a C++17 compiler).",
      );
    }
    const require = createRequire(import.meta.url);
    cached = require(path) as NativeAddon;
  }
  return cached as NativeAddon & T;
}
