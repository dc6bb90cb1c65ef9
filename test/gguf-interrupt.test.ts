// Ctrl-C (SIGINT) or SIGTERM during a quantization removes its temporary files, then the signal ends the process
// as usual; once the work is over, signals are left alone.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

const root = mkdtempSync(join(tmpdir(), "sqlfocus-gguf-int-"));
after(() => rmSync(root, { recursive: true, force: true }));

// A child that registers two temp files, optionally disposes, then signals itself.
function child(signal: "SIGINT" | "SIGTERM", dispose: boolean, tag: string) {
  const files = [join(root, `${tag}.a`), join(root, `${tag}.b`)];
  for (const f of files) writeFileSync(f, "partial");
  const code = `
    import { removeOnInterrupt } from "./src/files/index.ts";
    const stop = removeOnInterrupt(${JSON.stringify(files)});
    ${dispose ? "stop();" : ""}
    process.kill(process.pid, ${JSON.stringify(signal)});
    setTimeout(() => { console.log("still alive"); }, 2000);
  `;
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], { encoding: "utf8" });
  return { r, files };
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  test(`${signal} while quantizing removes the temporary files and still ends the process`, () => {
    const { r, files } = child(signal, false, signal);
    assert.equal(r.signal, signal, r.stderr);
    assert.doesNotMatch(r.stdout, /still alive/);
    for (const f of files) assert.ok(!existsSync(f), `${f} left behind`);
  });
}

test("after the work is done the handler is gone: files stay, the signal acts as usual", () => {
  const { r, files } = child("SIGTERM", true, "done");
  assert.equal(r.signal, "SIGTERM", r.stderr);
  for (const f of files) assert.ok(existsSync(f));
});
