// What the CLI's commands share (so that no command imports from another): progress display, signal handling,
// sqlfocus's own version, and the error line every command ends with.
import cliProgress from "cli-progress";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** A progress display: a bar on a TTY, a line every few seconds otherwise (on stderr). */
export function progressBar(
  label: string,
  total: number,
  extra = "",
  payload: Record<string, string> = {},
  start = 0,
): cliProgress.SingleBar {
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {value}/{total} {percentage}% | {eta_formatted} left${extra ? ` | ${extra}` : ""}`,
      stream: process.stderr,
      hideCursor: true,
      noTTYOutput: true,
      notTTYSchedule: 5000,
      etaBuffer: 50,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, start, payload);
  return bar;
}

/**
 * Wires Ctrl-C (SIGINT), SIGTERM and SIGUSR2 to a clean stop: finish the step, save a checkpoint, exit. Twice: exit
 * now. Under mpirun, SIGUSR2 sent to mpirun reaches every rank (mpirun forwards it; SIGINT/SIGTERM make it kill the
 * job instead): all ranks stop after the same step.
 */
export function abortOnSignals(controller: AbortController): () => void {
  let count = 0;
  const handler = (sig: NodeJS.Signals) => {
    count++;
    if (count === 1) {
      process.stderr.write(
        `\nsqlfocus: ${sig}: stopping after this step and saving a checkpoint (again to quit at once)\n`,
      );
      controller.abort(new Error(`stopped by ${sig}`));
    } else {
      process.exit(130);
    }
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  process.on("SIGUSR2", handler);
  return () => {
    process.off("SIGINT", handler);
    process.off("SIGTERM", handler);
    process.off("SIGUSR2", handler);
  };
}

/** sqlfocus's own version (its package.json, found from this file in src/ or dist/src/), not the calling project's. */
export function sqlfocusVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "sqlfocus" && pkg.version) return pkg.version;
    } catch {
      /* not here */
    }
    const up = dirname(dir);
    if (up === dir) return "unknown";
    dir = up;
  }
}

/** An error as the one line the CLI prints: `sqlfocus: <message>` (a message that already starts so is not doubled). */
export function errorLine(message: string): string {
  return `sqlfocus: ${message.replace(/^(?:sqlfocus: )+/, "")}`;
}
