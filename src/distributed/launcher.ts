// Which rank of how many this process is, from the launcher's environment: Open MPI's mpirun/mpiexec
// (OMPI_COMM_WORLD_SIZE/RANK/LOCAL_RANK) or Slurm's srun (SLURM_STEP_NUM_TASKS, SLURM_PROCID, SLURM_LOCALID).
// Nothing in the environment: one process. A batch script's own environment (sbatch, before srun) has
// SLURM_NTASKS/SLURM_PROCID but no step variables: that is one process too, not rank 0 of many.

import { availableParallelism, cpus } from "node:os";

export type Launcher = "none" | "mpirun" | "srun" | "pmi";

export interface LaunchInfo {
  launcher: Launcher;
  rank: number;
  size: number;
  /** Rank among the ranks on this machine (which GPU a rank takes). */
  localRank: number;
  /** The variables it came from, for messages ("OMPI_COMM_WORLD_SIZE=2"). */
  source: string;
}

export const SINGLE_LAUNCH: LaunchInfo = {
  launcher: "none",
  rank: 0,
  size: 1,
  localRank: 0,
  source: "no launcher variables",
};

function int(env: NodeJS.ProcessEnv, name: string, min: number): number {
  const raw = env[name];
  const v = raw === undefined ? NaN : Number(raw.trim());
  if (raw === undefined || raw.trim() === "" || !Number.isInteger(v) || v < min) {
    throw new Error(
      `${name}=${raw === undefined ? "(unset)" : JSON.stringify(raw)}: the launcher's variable must be an integer ≥ ${min}`,
    );
  }
  return v;
}

function launch(
  env: NodeJS.ProcessEnv,
  launcher: Launcher,
  sizeVar: string,
  rankVar: string,
  localVar: string | null,
): LaunchInfo {
  const size = int(env, sizeVar, 1);
  const rank = int(env, rankVar, 0);
  const localRank = localVar && env[localVar] !== undefined ? int(env, localVar, 0) : 0;
  if (rank >= size) throw new Error(`${rankVar}=${rank} is not below ${sizeVar}=${size}`);
  return { launcher, rank, size, localRank, source: `${sizeVar}=${size}, ${rankVar}=${rank}` };
}

/** This process's place in a data-parallel job, from the launcher's variables (see the file comment). */
export function detectLaunch(env: NodeJS.ProcessEnv = process.env): LaunchInfo {
  if (env.OMPI_COMM_WORLD_SIZE !== undefined)
    return launch(env, "mpirun", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_LOCAL_RANK");
  if (env.SLURM_STEP_NUM_TASKS !== undefined && env.SLURM_PROCID !== undefined)
    return launch(env, "srun", "SLURM_STEP_NUM_TASKS", "SLURM_PROCID", "SLURM_LOCALID");
  if (env.PMI_SIZE !== undefined && env.PMI_RANK !== undefined)
    return launch(env, "pmi", "PMI_SIZE", "PMI_RANK", "MPI_LOCALRANKID");
  return SINGLE_LAUNCH;
}

/**
 * Default CPU threads of one rank: the cores this process may use (its affinity mask), shared with the other ranks
 * the launcher started on this machine when they all see every core (mpirun --oversubscribe, srun without binding).
 */
export function defaultThreadsPerRank(env: NodeJS.ProcessEnv = process.env): number {
  const usable = availableParallelism();
  const perTask = Number(env.SLURM_CPUS_PER_TASK);
  if (env.SLURM_STEP_NUM_TASKS !== undefined && Number.isInteger(perTask) && perTask >= 1)
    return Math.min(usable, perTask);
  const local = Number(env.OMPI_COMM_WORLD_LOCAL_SIZE ?? env.SLURM_STEP_TASKS_PER_NODE?.split(/[(,]/)[0] ?? 1);
  if (!Number.isInteger(local) || local <= 1) return usable;
  const bound = usable < cpus().length; // the launcher bound this rank to its own cores
  return bound ? usable : Math.max(1, Math.floor(usable / local));
}
