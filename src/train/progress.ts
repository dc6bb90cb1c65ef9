// Training progress on the terminal: a cli-progress bar (step, loss, lr, tokens/s, ETA) when stderr is a TTY,
// plain lines (one per logging step, and every `intervalMs` at most otherwise) when it is not.
import cliProgress from "cli-progress";

export interface ProgressFields {
  step: number;
  total: number;
  epoch: number;
  loss: number | null;
  lr: number;
  tokensPerS: number;
}

export interface TrainProgress {
  update(f: ProgressFields): void;
  /** A logging-step line (printed above the bar on a TTY). */
  line(text: string): void;
  stop(): void;
}

function fmtLoss(x: number | null): string {
  return x === null || !Number.isFinite(x) ? "-" : x.toFixed(4);
}

function fmtDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return "-";
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  return h > 0 ? `${h}h${String(m).padStart(2, "0")}m` : m > 0 ? `${m}m${String(sec).padStart(2, "0")}s` : `${sec}s`;
}

/** A progress display; `mode` false prints nothing, "auto" picks bar or lines from stderr's TTY-ness. */
export function createTrainProgress(
  mode: boolean | "auto",
  startStep: number,
  stream: NodeJS.WriteStream = process.stderr,
): TrainProgress {
  if (mode === false) return { update() {}, line() {}, stop() {} };
  const tty = !!stream.isTTY; // a bar needs a terminal; elsewhere (CI, pipes, files) plain lines
  const t0 = Date.now();
  let etaFrom = { step: startStep, time: t0 };
  const eta = (f: ProgressFields) => {
    const done = f.step - etaFrom.step;
    if (done <= 0) return Infinity;
    return (((Date.now() - etaFrom.time) / 1000) * (f.total - f.step)) / done;
  };
  if (tty) {
    const bar = new cliProgress.SingleBar(
      {
        format: "train [{bar}] {value}/{total} | epoch {epoch} | loss {loss} | lr {lr} | {tps} tok/s | ETA {etaText}",
        stream,
        hideCursor: true,
        fps: 4,
        barsize: 24,
      },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      update(f) {
        const payload = {
          epoch: f.epoch.toFixed(2),
          loss: fmtLoss(f.loss),
          lr: f.lr.toExponential(2),
          tps: Math.round(f.tokensPerS),
          etaText: fmtDuration(eta(f)),
        };
        if (!started) {
          bar.start(f.total, f.step, payload);
          started = true;
          etaFrom = { step: f.step, time: Date.now() };
        } else bar.update(f.step, payload);
      },
      line(text) {
        if (started) {
          // Clear the bar's line, print, and let the bar redraw below.
          stream.write("\r\x1b[2K" + text + "\n");
          bar.render();
        } else stream.write(text + "\n");
      },
      stop() {
        if (started) bar.stop();
      },
    };
  }
  return {
    update() {},
    line(text) {
      stream.write(text + "\n");
    },
    stop() {},
  };
}

/** The periodic line for a logging step. */
export function formatStepLine(f: ProgressFields & { gradNorm: number | null }, etaS?: number): string {
  const parts = [
    `step ${f.step}/${f.total}`,
    `epoch ${f.epoch.toFixed(2)}`,
    `loss ${fmtLoss(f.loss)}`,
    `lr ${f.lr.toExponential(3)}`,
    `grad_norm ${f.gradNorm === null ? "-" : f.gradNorm.toFixed(4)}`,
    `${Math.round(f.tokensPerS)} tok/s`,
  ];
  if (etaS !== undefined) parts.push(`ETA ${fmtDuration(etaS)}`);
  return parts.join(" | ");
}

export { fmtDuration as formatDuration };
