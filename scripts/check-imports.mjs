#!/usr/bin/env node
// Folder-level import check of src/: every relative import specifier of src/**/*.ts (static, `export … from`,
// `import type`, dynamic `import()`; read with TypeScript's own pre-processor, not regexes) is resolved to the file
// it names, and each import that crosses from one capability folder (src/model, src/train, …) to another becomes an
// edge of the folder graph. Reports:
//   - cycles: each strongly connected group of folders, with the file-level imports that make it up (exit 1);
//   - deep imports: a file of one folder importing another folder's file other than its index.ts (reported; a
//     failure only with --strict-deep).
// Usage: node scripts/check-imports.mjs [--root <dir with src/>] [--json] [--strict-deep]
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

/** All .ts files under dir (sorted, paths relative to root with "/"). */
function listTs(root, dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listTs(root, p));
    else if (name.endsWith(".ts") && !name.endsWith(".d.ts")) out.push(relative(root, p).split(sep).join("/"));
  }
  return out;
}

/** The capability folder of a src-relative path ("model/merge.ts" → "model"); files directly in src/ → "(src)". */
function folderOf(srcRel) {
  const i = srcRel.indexOf("/");
  return i < 0 ? "(src)" : srcRel.slice(0, i);
}

/** The .ts file a relative specifier names (NodeNext: "./x.js" is x.ts), as a src-relative path, or null if outside src/. */
function resolveSpecifier(srcDir, fromSrcRel, spec) {
  let target = resolve(srcDir, dirname(fromSrcRel), spec);
  if (target.endsWith(".js")) target = target.slice(0, -3) + ".ts";
  else if (!target.endsWith(".ts")) target += ".ts";
  const rel = relative(srcDir, target).split(sep).join("/");
  return rel.startsWith("../") || rel === ".." ? null : rel;
}

/** Strongly connected components (Tarjan) of a graph given as Map<node, Set<node>>. */
function stronglyConnected(graph) {
  let index = 0;
  const idx = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const groups = [];
  const visit = (v) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const group = [];
      let w;
      do {
        w = stack.pop();
        onStack.delete(w);
        group.push(w);
      } while (w !== v);
      groups.push(group.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!idx.has(v)) visit(v);
  return groups;
}

/** Checks root/src; returns { folders, edges, cycles, deepImports }. */
export function checkImports(root) {
  const srcDir = join(root, "src");
  const files = listTs(srcDir, srcDir);
  const graph = new Map(); // folder → Set<folder>
  const crossings = []; // { from, to, fromFolder, toFolder, specifier }
  const deepImports = [];
  for (const file of files) {
    const fromFolder = folderOf(file);
    if (!graph.has(fromFolder)) graph.set(fromFolder, new Set());
    const text = readFileSync(join(srcDir, file), "utf8");
    for (const { fileName: spec } of ts.preProcessFile(text, true, true).importedFiles) {
      if (!spec.startsWith(".")) continue; // packages and node: built-ins
      const target = resolveSpecifier(srcDir, file, spec);
      if (target === null) continue;
      const toFolder = folderOf(target);
      if (toFolder === fromFolder) continue;
      graph.get(fromFolder).add(toFolder);
      const crossing = { from: `src/${file}`, to: `src/${target}`, fromFolder, toFolder, specifier: spec };
      crossings.push(crossing);
      // src/index.ts is the package face: it re-exports folders' index files and is not itself a folder.
      if (fromFolder !== "(src)" && target !== `${toFolder}/index.ts`) deepImports.push(crossing);
    }
  }
  const cycles = stronglyConnected(graph)
    .filter((g) => g.length > 1)
    .map((folders) => ({
      folders,
      imports: crossings.filter((c) => folders.includes(c.fromFolder) && folders.includes(c.toFolder)),
    }));
  const edges = [...graph].flatMap(([from, tos]) => [...tos].sort().map((to) => [from, to])).sort();
  return { folders: [...graph.keys()].sort(), edges, cycles, deepImports };
}

function main(argv) {
  const arg = (name) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const root = resolve(arg("--root") ?? join(dirname(fileURLToPath(import.meta.url)), ".."));
  const strictDeep = argv.includes("--strict-deep");
  const r = checkImports(root);
  if (argv.includes("--json")) console.log(JSON.stringify(r, null, 2));
  else {
    console.log(`src/ folders: ${r.folders.join(", ")}; ${r.edges.length} folder-level import edges`);
    if (r.cycles.length === 0) console.log("no circular imports between folders");
    for (const c of r.cycles) {
      console.log(`CYCLE between ${c.folders.join(", ")}:`);
      for (const i of c.imports) console.log(`  ${i.from} → ${i.to}`);
    }
    if (r.deepImports.length > 0) {
      console.log(`${r.deepImports.length} deep import(s) (another folder's file other than its index.ts):`);
      for (const i of r.deepImports) console.log(`  ${i.from} → ${i.to}`);
    }
  }
  return r.cycles.length > 0 || (strictDeep && r.deepImports.length > 0) ? 1 : 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url))
  process.exitCode = main(process.argv.slice(2));
