// Loads the native addon (build/Release/sqlfocus.node, built on `npm i`) once, with a clear error if missing.
// Its types, all of them, are in ./binding.ts.
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { NativeAddon } from "./binding.js";

export * from "./binding.js";

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
