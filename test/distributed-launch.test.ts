// Rank, world size and local rank from the launcher's environment (Open MPI's mpirun, Slurm's srun), one GPU per rank,
// and the CPU threads a rank takes by default. Pure functions of an environment: no MPI needed.
import assert from "node:assert/strict";
import { availableParallelism, cpus } from "node:os";
import { test } from "node:test";
import { defaultThreadsPerRank, detectLaunch, selectLocalGpu } from "../src/distributed/index.js";

test("no launcher variables: one process", () => {
  assert.deepEqual(detectLaunch({}), {
    launcher: "none",
    rank: 0,
    size: 1,
    localRank: 0,
    source: "no launcher variables",
  });
  // an sbatch script's own environment (before srun) is not a step of many tasks
  assert.equal(detectLaunch({ SLURM_NTASKS: "8", SLURM_PROCID: "0", SLURM_JOB_ID: "12" }).size, 1);
});

test("Open MPI's mpirun", () => {
  const l = detectLaunch({
    OMPI_COMM_WORLD_SIZE: "4",
    OMPI_COMM_WORLD_RANK: "3",
    OMPI_COMM_WORLD_LOCAL_RANK: "1",
    SLURM_STEP_NUM_TASKS: "9",
    SLURM_PROCID: "5",
  });
  assert.deepEqual([l.launcher, l.rank, l.size, l.localRank], ["mpirun", 3, 4, 1]);
  assert.match(l.source, /OMPI_COMM_WORLD_SIZE=4, OMPI_COMM_WORLD_RANK=3/);
});

test("Slurm's srun", () => {
  const l = detectLaunch({ SLURM_STEP_NUM_TASKS: "16", SLURM_PROCID: "9", SLURM_LOCALID: "1", SLURM_NTASKS: "16" });
  assert.deepEqual([l.launcher, l.rank, l.size, l.localRank], ["srun", 9, 16, 1]);
});

test("MPICH-family launchers are recognised (and refused later with a clear message)", () => {
  const l = detectLaunch({ PMI_SIZE: "2", PMI_RANK: "1" });
  assert.deepEqual([l.launcher, l.rank, l.size], ["pmi", 1, 2]);
});

test("malformed launcher variables name the variable", () => {
  assert.throws(
    () => detectLaunch({ OMPI_COMM_WORLD_SIZE: "two", OMPI_COMM_WORLD_RANK: "0" }),
    /OMPI_COMM_WORLD_SIZE="two"/,
  );
  assert.throws(() => detectLaunch({ OMPI_COMM_WORLD_SIZE: "2" }), /OMPI_COMM_WORLD_RANK=\(unset\)/);
  assert.throws(
    () => detectLaunch({ OMPI_COMM_WORLD_SIZE: "2", OMPI_COMM_WORLD_RANK: "2" }),
    /OMPI_COMM_WORLD_RANK=2 is not below OMPI_COMM_WORLD_SIZE=2/,
  );
  assert.throws(() => detectLaunch({ SLURM_STEP_NUM_TASKS: "0", SLURM_PROCID: "0" }), /SLURM_STEP_NUM_TASKS="0".*≥ 1/);
});

test("one GPU per rank: the local rank's entry of CUDA_VISIBLE_DEVICES", () => {
  const launch = detectLaunch({
    OMPI_COMM_WORLD_SIZE: "4",
    OMPI_COMM_WORLD_RANK: "3",
    OMPI_COMM_WORLD_LOCAL_RANK: "1",
  });
  const unset: NodeJS.ProcessEnv = {};
  assert.equal(selectLocalGpu(launch, unset), "1");
  assert.equal(unset.CUDA_VISIBLE_DEVICES, "1");
  const listed: NodeJS.ProcessEnv = { CUDA_VISIBLE_DEVICES: "4,5,6,7" };
  assert.equal(selectLocalGpu(launch, listed), "5");
  assert.equal(listed.CUDA_VISIBLE_DEVICES, "5");
  const one: NodeJS.ProcessEnv = { CUDA_VISIBLE_DEVICES: "GPU-3f2a" }; // srun --gpus-per-task=1 already bound it
  assert.equal(selectLocalGpu(launch, one), "GPU-3f2a");
  assert.throws(
    () => selectLocalGpu({ ...launch, localRank: 2 }, { CUDA_VISIBLE_DEVICES: "0,1" }),
    /local rank 2 has no GPU of its own: CUDA_VISIBLE_DEVICES=0,1/,
  );
});

test("default threads: the usable cores, shared between the ranks of this machine", () => {
  const usable = availableParallelism();
  assert.equal(defaultThreadsPerRank({}), usable);
  const shared = defaultThreadsPerRank({ OMPI_COMM_WORLD_SIZE: "2", OMPI_COMM_WORLD_LOCAL_SIZE: "2" });
  assert.equal(shared, usable < cpus().length ? usable : Math.max(1, Math.floor(usable / 2)));
  assert.equal(defaultThreadsPerRank({ SLURM_STEP_NUM_TASKS: "4", SLURM_CPUS_PER_TASK: "1" }), 1);
});
