// Starts a worker thread on one of sqlfocus's own scripts, given as this folder's sibling module name. Built (dist/)
// it runs the .js file; under tsx (tests, `npx tsx`) loader hooks do not reach worker threads, so the worker registers
// tsx itself before importing the .ts file.
import { existsSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";

/** The script next to `importMetaUrl` named `name` (".js" or ".ts", as the caller itself runs). */
export function siblingScript(importMetaUrl: string, name: string): string {
  const ext = fileURLToPath(importMetaUrl).endsWith(".ts") ? ".ts" : ".js";
  const path = fileURLToPath(new URL(`./${name}${ext}`, importMetaUrl));
  if (!existsSync(path)) throw new Error(`worker script not found: ${path}`);
  return path;
}

/** A worker thread on `script`, with `workerData`. */
export function startWorkerThread(script: string, workerData?: unknown): Worker {
  const execArgv = process.execArgv.filter(
    (a) => !a.startsWith("--inspect") && a !== "--import" && !/^(tsx|--import=)/.test(a),
  );
  const worker = script.endsWith(".ts")
    ? new Worker(
        `import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))}).then((m) => { m.register(); return import(${JSON.stringify(pathToFileURL(script).href)}); });`,
        { eval: true, execArgv, workerData },
      )
    : new Worker(script, { execArgv, workerData });
  return worker;
}
