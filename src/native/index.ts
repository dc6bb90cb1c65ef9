// Loads the native addon once: a source build (build/Release/sqlfocus.node) or the package's prebuilt binary
// (prebuilds/<platform>-<arch>/, node-gyp-build's layout), with a clear error naming the fix when neither is there.
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
    if (up === dir) throw new Error("cannot find sqlfocus's package root (its package.json)");
    dir = up;
  }
}

let cached: NativeAddon | undefined;

/** Where the addon is loaded from: $SQLFOCUS_ADDON, else build/Release (a source build), else the prebuilt binary. */
export function addonPath(): string {
  const override = process.env.SQLFOCUS_ADDON;
  if (override) {
    if (!existsSync(override)) throw new Error(`SQLFOCUS_ADDON=${override}: no such file`);
    return override;
  }
  const root = packageRoot();
  const require = createRequire(import.meta.url);
  try {
    // node-gyp-build: build/Release, build/Debug, then prebuilds/<platform>-<arch>/ matching this Node and libc
    return (require("node-gyp-build") as { resolve(dir: string): string }).resolve(root);
  } catch {
    const failure = join(root, "build", "native-build-error.txt");
    let why = "";
    if (existsSync(failure))
      why = ` Its build failed when sqlfocus was installed: ${readFileSync(failure, "utf8").trim().split("\n")[0]}`;
    throw Object.assign(
      new Error(
        `sqlfocus's native addon is not available for ${process.platform}-${process.arch} (no build in ${join(root, "build", "Release")}, ` +
          `no prebuilt binary for this platform in ${join(root, "prebuilds")}).${why} ` +
          "Build it with: npm rebuild sqlfocus (needs cmake, a C++17 compiler and git; see the README, 'Building from source').",
      ),
      { code: "SQLFOCUS_NO_ADDON" },
    );
  }
}

/** The addon, loaded on first use. `T` is the caller's typed view of its part. */
export function loadAddon<T = object>(): NativeAddon & T {
  if (!cached) {
    const path = addonPath();
    const require = createRequire(import.meta.url);
    try {
      cached = require(path) as NativeAddon;
    } catch (err) {
      throw Object.assign(
        new Error(
          `sqlfocus's native addon ${path} does not load here (${(err as Error).message.split("\n")[0]}). Rebuild it with: npm rebuild sqlfocus`,
        ),
        { code: "SQLFOCUS_NO_ADDON", cause: err },
      );
    }
  }
  return cached as NativeAddon & T;
}
