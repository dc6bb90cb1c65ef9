// Public face of src/distributed: data-parallel training across processes and machines (docs/distributed.md).
export { defaultThreadsPerRank, detectLaunch, SINGLE_LAUNCH } from "./launcher.js";
export type { LaunchInfo, Launcher } from "./launcher.js";
export { openDataParallel, probeMpi, selectLocalGpu, SINGLE_PROCESS } from "./comm.js";
export type { DataParallel, DataParallelOptions, MpiProbe, ReduceOp } from "./comm.js";
