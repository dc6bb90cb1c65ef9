// Public face of src/track: run folders (createRun), reading them back, and extra metric sinks.
export {
  createRun,
  type CreateRunOptions,
  type Run,
  type RunSession,
  type RunStatus,
  type RunStatusFile,
} from "./run.js";
export {
  JsonlTail,
  listRuns,
  readRun,
  resolveSessions,
  type MetricRow,
  type RunData,
  type RunSummary,
} from "./read.js";
export {
  parseNvidiaSmi,
  queryGpus,
  systemSnapshot,
  SystemSampler,
  type GpuSample,
  type SystemSample,
  type SystemSnapshot,
} from "./system.js";
export {
  crc32c,
  decodeEvent,
  encodeEvent,
  maskedCrc32c,
  readEventFile,
  TensorBoardTracker,
  tfRecord,
  type DecodedEvent,
  type TensorBoardTrackerOptions,
} from "./tensorboard.js";
export {
  createSwanLabTracker,
  SwanLabApiError,
  swanLabConfig,
  SwanLabTracker,
  type SwanLabTrackerOptions,
} from "./swanlab.js";
export { runTrackers, SWANLAB_KEY_MISSING, type RunTrackersOptions, type Tracker } from "./trackers.js";
export { createBoardServer, runsDirOf, startBoard, type BoardOptions } from "./board.js";
