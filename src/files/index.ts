// src/files: the one place outputs are written atomically (temp + fsync + rename), for every other folder.
export {
  AtomicFile,
  checkOutputDir,
  checkOutputFile,
  commitFile,
  fsyncDir,
  removeOnInterrupt,
  removeStaleTempDirs,
  streamFileAtomic,
  tempDirFor,
  tempPathFor,
  writeDirAtomic,
  writeFileAtomic,
  writeFileSynced,
  writeJsonAtomic,
} from "./atomic.js";
