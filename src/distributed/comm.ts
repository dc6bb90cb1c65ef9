// Data-parallel collectives for the training loop: a DataParallel over the addon's Communicator (native/comm: Open
// MPI opened at run time, NCCL in CUDA builds), or SINGLE_PROCESS when there is one rank. See docs/distributed.md.
import { loadAddon, nativeHandle, type MpiProbe, type NativeCommunicator } from "../native/index.js";

export type { MpiProbe } from "../native/index.js";
import { detectLaunch, type LaunchInfo } from "./launcher.js";

export type ReduceOp = "sum" | "max" | "min";

/** What the training loop needs from the other ranks. */
export interface DataParallel {
  readonly rank: number;
  readonly size: number;
  readonly localRank: number;
  readonly backend: "none" | "mpi" | "nccl";
  readonly launch: LaunchInfo;
  /** Something rank 0 should tell the user about the set-up (e.g. GPU gradients through host memory: no NCCL). */
  readonly note?: string;
  /** In place over all ranks. */
  allreduce(values: Float64Array | Float32Array, op?: ReduceOp): Promise<void>;
  /** Sums the trainer's LoRA gradients over all ranks, in place (after the last forwardBackward of a step). */
  allreduceGradients(trainer: object): Promise<{ ms: number; bytes: number }>;
  /** Ends every rank with this exit code (MPI_Abort); never returns. */
  abort(code: number): never;
}

/** One process: every collective is the identity. */
export const SINGLE_PROCESS: DataParallel = {
  rank: 0,
  size: 1,
  localRank: 0,
  backend: "none",
  launch: { launcher: "none", rank: 0, size: 1, localRank: 0, source: "no launcher variables" },
  allreduce: async () => {},
  allreduceGradients: async () => ({ ms: 0, bytes: 0 }),
  abort: (code: number): never => process.exit(code),
};

/** Whether and which MPI this process can use (loads libmpi, initialises nothing). */
export function probeMpi(): MpiProbe {
  const addon = loadAddon();
  if (typeof addon.mpiProbe !== "function") {
    return {
      supported: false,
      available: false,
      library: "",
      version: "",
      error: "this sqlfocus addon predates data-parallel training (rebuild it: npm rebuild sqlfocus)",
      nccl: false,
    };
  }
  return addon.mpiProbe();
}

export interface DataParallelOptions {
  /** "cuda": NCCL for the gradients when the build has it. */
  device: "cpu" | "cuda";
  /** Seconds a collective may wait for the other ranks (HF's ddp_timeout; default 1800). */
  timeoutS?: number;
  /** The launcher's variables (default: detected from process.env). */
  launch?: LaunchInfo;
}

let opened: DataParallel | null = null;

/**
 * The ranks of this job: SINGLE_PROCESS when the launcher says one rank, else MPI (and NCCL for CUDA gradients),
 * initialised once per process (MPI cannot be initialised twice) and finalised at exit. Throws a clear error when a
 * multi-rank launch meets a build or machine without MPI, or when MPI's world disagrees with the launcher's.
 */
export function openDataParallel(options: DataParallelOptions): DataParallel {
  const launch = options.launch ?? detectLaunch();
  if (launch.size === 1) return SINGLE_PROCESS;
  if (opened) return opened;
  const where = `launched as rank ${launch.rank} of ${launch.size} by ${launch.launcher} (${launch.source})`;
  if (launch.launcher === "pmi") {
    throw new Error(
      `${where}: that is an MPICH-family launcher; sqlfocus's MPI backend is Open MPI's (libmpi.so.40): launch with Open MPI's mpirun, or srun with an Open MPI built for Slurm`,
    );
  }
  const probe = probeMpi();
  const addon = loadAddon();
  const timeoutS = options.timeoutS ?? 1800;
  const useNccl = options.device === "cuda" && probe.nccl;
  // GPUs without MPI (e.g. srun without an Open MPI): NCCL alone, its id handed over TCP or a shared file.
  const idVia = process.env.SQLFOCUS_NCCL_ID;
  const ncclOnly = useNccl && !probe.available && idVia !== undefined && idVia !== "";
  if (!ncclOnly && (!probe.supported || !probe.available)) {
    const gpuHint = useNccl
      ? "; or, for GPU ranks without MPI, set SQLFOCUS_NCCL_ID=tcp://<rank 0 host>:<port> or file:///<shared path>"
      : "";
    throw new Error(`${where}, but ${probe.error}${gpuHint}`);
  }
  let comm: NativeCommunicator;
  try {
    comm = ncclOnly
      ? new addon.Communicator!({
          backend: "nccl",
          mpi: false,
          rank: launch.rank,
          size: launch.size,
          localRank: launch.localRank,
          idVia,
          timeoutS,
          device: 0,
        })
      : new addon.Communicator!({ backend: useNccl ? "nccl" : "mpi", timeoutS, device: 0, ncclFallback: true });
  } catch (err) {
    throw new Error(`${where}: ${(err as Error).message}`, { cause: err });
  }
  if (!ncclOnly) process.once("exit", () => addon.mpiFinalize?.());
  if (comm.size !== launch.size || comm.rank !== launch.rank) {
    // e.g. srun starting an Open MPI without Slurm/PMIx support: every task is a world of its own. Stop before two
    // "rank 0"s write the same checkpoints.
    throw new Error(
      `${where}, but MPI sees rank ${comm.rank} of ${comm.size}: this Open MPI cannot reach the launcher's process manager ` +
        `(with srun try --mpi=pmix, or launch with mpirun)`,
    );
  }
  const dp: DataParallel = {
    rank: comm.rank,
    size: comm.size,
    localRank: comm.localRank,
    backend: comm.backend,
    launch,
    note: comm.ncclError
      ? `NCCL is not available (${comm.ncclError}); the GPU gradients go through host memory over MPI`
      : undefined,
    allreduce: async (values, op = "sum") => {
      await comm.allreduce(values, op);
    },
    allreduceGradients: (trainer) => comm.allreduceGradients(nativeHandle(trainer)),
    abort: (code) => comm.abort(code),
  };
  opened = dp;
  return dp;
}

/**
 * One GPU per rank: with several ranks on a machine, rank L (local rank) takes the L-th visible GPU by narrowing
 * CUDA_VISIBLE_DEVICES to it before CUDA starts (the engine then uses device 0). A launcher that already gives each
 * task one GPU (srun --gpus-per-task=1) leaves one device visible: that one is used. Returns what was chosen.
 */
export function selectLocalGpu(launch: LaunchInfo, env: NodeJS.ProcessEnv = process.env): string {
  const visible = env.CUDA_VISIBLE_DEVICES;
  if (visible === undefined || visible.trim() === "") {
    env.CUDA_VISIBLE_DEVICES = String(launch.localRank);
    return env.CUDA_VISIBLE_DEVICES;
  }
  const list = visible
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  if (list.length === 1) return list[0];
  if (launch.localRank >= list.length) {
    throw new Error(
      `local rank ${launch.localRank} has no GPU of its own: CUDA_VISIBLE_DEVICES=${visible} lists ${list.length}; start at most ${list.length} ranks per machine`,
    );
  }
  env.CUDA_VISIBLE_DEVICES = list[launch.localRank];
  return env.CUDA_VISIBLE_DEVICES;
}
