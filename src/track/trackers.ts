// The extra sinks a training run gets beside its run folder: TensorBoard when asked, SwanLab's cloud when
// SWANLAB_API_KEY is set. A SwanLab that cannot be reached is reported and left out; training goes on.
import { join } from "node:path";
import { createSwanLabTracker, type SwanLabTracker } from "./swanlab.js";
import { TensorBoardTracker } from "./tensorboard.js";
import type { Run } from "./run.js";

export type Tracker = TensorBoardTracker | SwanLabTracker;

export interface RunTrackersOptions {
  run: Pick<Run, "id" | "dir">;
  config?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
  /** Write TensorBoard event files into the run folder (default true). */
  tensorboard?: boolean;
  /**
   * Log to SwanLab: true (asked for: SWANLAB_API_KEY must be set), false (never), or undefined (when
   * SWANLAB_API_KEY is set).
   */
  swanlab?: boolean;
  /** Environment to read SWANLAB_* from (default process.env). */
  env?: NodeJS.ProcessEnv;
  fetch?: typeof fetch;
  warn?: (message: string) => void;
}

export const SWANLAB_KEY_MISSING =
  "report_to swanlab needs SWANLAB_API_KEY (the API key of your SwanLab account; SWANLAB_PROJ_NAME, SWANLAB_WORKSPACE and SWANLAB_API_HOST are optional)";

export async function runTrackers(o: RunTrackersOptions): Promise<Tracker[]> {
  const env = o.env ?? process.env;
  const warn = o.warn ?? ((m: string) => console.warn(m));
  const out: Tracker[] = [];
  if (o.tensorboard ?? true) out.push(new TensorBoardTracker({ logdir: o.run.dir }));
  const key = env.SWANLAB_API_KEY;
  if (o.swanlab === true && !key) throw new Error(SWANLAB_KEY_MISSING);
  if (key && o.swanlab !== false) {
    try {
      out.push(
        await createSwanLabTracker({
          apiKey: key,
          apiHost: env.SWANLAB_API_HOST,
          project: env.SWANLAB_PROJ_NAME,
          workspace: env.SWANLAB_WORKSPACE,
          experimentName: o.run.id,
          config: o.config,
          metadata: o.metadata,
          stateFile: join(o.run.dir, "swanlab.json"),
          fetch: o.fetch,
        }),
      );
    } catch (err) {
      warn(`swanlab: not logging to SwanLab: ${(err as Error).message}`);
    }
  }
  return out;
}
