// Every type the native addon (native/addon/*.cpp) exposes to JS, in one place. The addon is thin: it converts JS
// values into the C structs of native/include/sqlfocus.h and back, and checks only what memory safety needs (array
// lengths, types); the native core validates the config and parameters, and the TypeScript callers validate user
// options and Hugging Face names. Errors thrown or rejected by the addon carry `code` (EngineErrorCode).

/** buildInfo(): what the addon was compiled with. */
export interface BuildInfo {
  cuda: boolean;
  /** The SIMD level the CPU kernels run at: portable | avx2 | avx512 | avx512bf16 (chosen at run time from the
   *  CPU; SQLFOCUS_CPU=<level> forces a lower one). */
  simd: string;
  /** The best level this CPU (and build) supports. */
  simdDetected: string;
  compiler: string;
}

/**
 * `err.code` of every error from the addon: the core's sf_status names (sqlfocus.h), plus two of the addon's own
 * (a call on a disposed trainer, a call while another one is still running).
 */
export type EngineErrorCode =
  | "SF_ERR_INVALID_ARGUMENT"
  | "SF_ERR_NONFINITE_GRADIENTS"
  | "SF_ERR_OUT_OF_MEMORY"
  | "SF_ERR_DEVICE"
  | "SF_ERR_UNSUPPORTED"
  | "SF_ERR_DISPOSED"
  | "SF_ERR_BUSY";

/** An Error from the addon. */
export type EngineError = Error & { code: EngineErrorCode };

/** Whether `err` is an addon error with this code. */
export function isEngineError(err: unknown, code?: EngineErrorCode): err is EngineError {
  if (!(err instanceof Error)) return false;
  const c = (err as { code?: unknown }).code;
  return typeof c === "string" && c.startsWith("SF_ERR_") && (code === undefined || c === code);
}

/** sf_dtype (sqlfocus.h): F32/F16/BF16, and ggml block types as SF_GGML_TYPE(ggml id) = 0x100 + id (the core
 *  dequantizes Q4_0 … Q6_K itself; the others once libggml-base's dequantizers are registered). */
export const SF_DTYPE = {
  F32: 0,
  F16: 1,
  BF16: 2,
  Q4_0: 0x102,
  Q4_1: 0x103,
  Q5_0: 0x106,
  Q5_1: 0x107,
  Q8_0: 0x108,
  Q2_K: 0x10a,
  Q3_K: 0x10b,
  Q4_K: 0x10c,
  Q5_K: 0x10d,
  Q6_K: 0x10e,
  IQ4_NL: 0x114,
  IQ4_XS: 0x117,
} as const;
/** Elements and bytes per block of each sf_dtype (F32/F16/BF16: one element). */
export const SF_DTYPE_BLOCK: { readonly [K in keyof typeof SF_DTYPE]: readonly [number, number] } = {
  F32: [1, 4],
  F16: [1, 2],
  BF16: [1, 2],
  Q4_0: [32, 18],
  Q4_1: [32, 20],
  Q5_0: [32, 22],
  Q5_1: [32, 24],
  Q8_0: [32, 34],
  Q2_K: [256, 84],
  Q3_K: [256, 110],
  Q4_K: [256, 144],
  Q5_K: [256, 176],
  Q6_K: [256, 210],
  IQ4_NL: [32, 18],
  IQ4_XS: [256, 136],
};
/** sf_device. */
export const SF_DEVICE = { cpu: 0, cuda: 1 } as const;
/** sf_lora_buffer: the four flat LoRA buffers. */
export const SF_LORA_BUFFER = { params: 0, grads: 1, adamM: 2, adamV: 3 } as const;

/** sf_tensor: a base weight's bytes (read in place by the CPU engine, uploaded once by CUDA) and sf_dtype. */
export interface BindingTensor {
  data: ArrayBufferView;
  dtype: number;
}

/** sf_model_config. */
export interface BindingModelConfig {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  /** 0: hiddenSize / numHeads. */
  headDim: number;
  ropeTheta: number;
  rmsNormEps: number;
  tieWordEmbeddings: boolean;
}

/** sf_model_weights: layers[l] holds the 12 sf_layer_tensor entries of layer l (null: an absent q/k/v bias). */
export interface BindingModelWeights {
  embedTokens: BindingTensor;
  norm: BindingTensor;
  /** Ignored (may be null) with tieWordEmbeddings. */
  lmHead: BindingTensor | null;
  layers: (BindingTensor | null)[][];
}

/** sf_trainer_params (fields left out take sf_trainer_default_params()'s values). */
export interface BindingTrainerParams {
  loraRank: number;
  loraAlpha: number;
  loraDropout: number;
  useRslora: boolean;
  /** Bit (1 << sf_module) per adapted module. */
  targetMask: number;
  maxBatch: number;
  maxSeq: number;
  threads: number;
  seed: bigint;
  recompute: boolean;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  maxGradNorm: number;
  device: number;
  ceChunk: number;
  activationDtype: number;
}

/** sf_lora_info, with sf_module_name(module). */
export interface BindingLoraSlot {
  layer: number;
  module: number;
  moduleName: string;
  isB: boolean;
  rows: number;
  cols: number;
  offset: number;
}

/** The addon's class Trainer (native/addon/trainer.cpp): one sf_trainer. Long calls run on a worker thread. */
export interface BindingTrainer {
  forwardBackward(
    inputIds: Int32Array,
    labels: Int32Array,
    batch: number,
    seqLen: number,
    lossScale: number,
  ): Promise<{ lossSum: number; tokens: number; ms: number }>;
  evaluate(
    inputIds: Int32Array,
    labels: Int32Array,
    batch: number,
    seqLen: number,
  ): Promise<{ lossSum: number; tokens: number; ms: number }>;
  logits(inputIds: Int32Array, batch: number, seqLen: number): Promise<Float32Array>;
  optimizerStep(lr: number): Promise<{ gradNorm: number; ms: number }>;
  zeroGrad(): void;
  loraSlots(): BindingLoraSlot[];
  /** Elements in each flat buffer. */
  loraSize(): number;
  /** A whole flat buffer (SF_LORA_BUFFER), copied out. */
  readLora(which: number): Float32Array;
  /** Replaces a whole flat buffer (loraSize() values). */
  writeLora(which: number, data: Float32Array): void;
  getStep(): number;
  setStep(step: number): void;
  rngState(): { seed: bigint; counter: bigint };
  setRngState(seed: bigint, counter: bigint): void;
  memory(): { weightsBytes: number; loraBytes: number; optimizerBytes: number; activationsBytes: number };
  dispose(): void;
}

export interface BindingTrainerClass {
  new (config: BindingModelConfig, weights: BindingModelWeights, params: Partial<BindingTrainerParams>): BindingTrainer;
  /** sf_module_name for each sf_module, in order. */
  readonly moduleNames: readonly string[];
  /** sf_check_config: the core's checks of the config and parameters, without weights (throws, coded). */
  checkConfig(config: BindingModelConfig, params: Partial<BindingTrainerParams>): void;
}

/** Quantizer (native/addon/quantizer.cpp). */
export interface NativeQuantizeOptions {
  input: string;
  output: string;
  /** llama_ftype */
  ftype: number;
  threads?: number;
  allowRequantize?: boolean;
  pure?: boolean;
  dryRun?: boolean;
  /** Called on the JS thread as llama.cpp starts each tensor (1-based index). */
  onTensor?: (index: number, count: number, name: string) => void;
}

export interface NativeQuantizer {
  quantize(options: NativeQuantizeOptions): Promise<void>;
  /**
   * ggml_quantize_chunk (libggml-base) over all rows of `f32` on worker threads: the bytes of those rows in ggml type
   * `ggmlType` (id), no importance matrix. Needs libggml-base (found beside libllama).
   */
  quantizeRows(ggmlType: number, f32: Float32Array, nPerRow: number, threads?: number): Promise<Buffer>;
  /**
   * `n` values (whole blocks) of ggml type `ggmlType` dequantized by the training core at its current SIMD level
   * (source 0), by its portable code (1) or by ggml's own to_float (2): for checking that they agree bit for bit.
   * Creating the quantizer with libggml-base registers ggml's dequantizers with the training core.
   */
  dequantize(ggmlType: number, bytes: Uint8Array, n: number, source: 0 | 1 | 2): Float32Array;
}

export type ReduceOpName = "sum" | "max" | "min";

/** Communicator (native/addon/comm.cpp): collectives over Open MPI (host memory) or NCCL (GPU memory). */
export interface NativeCommunicator {
  readonly rank: number;
  readonly size: number;
  readonly localRank: number;
  readonly backend: "mpi" | "nccl";
  /** Why NCCL was asked for (ncclFallback) and is missing: the GPU gradients then go through host memory over MPI. */
  readonly ncclError: string;
  allreduce(data: Float64Array | Float32Array, op?: ReduceOpName): Promise<{ ms: number; bytes: number }>;
  /** Sums a trainer's flat LoRA gradient buffer (sf_trainer_lora_buffer) in place over all ranks; `trainer` is the
   *  addon's Trainer object (nativeHandle(t) of a createNativeTrainer result). */
  allreduceGradients(trainer: object): Promise<{ ms: number; bytes: number }>;
  broadcast(data: Uint8Array, root: number): Promise<{ ms: number; bytes: number }>;
  abort(code: number): never;
}
export interface NativeCommunicatorOptions {
  backend: "mpi" | "nccl";
  timeoutS?: number;
  checkEveryS?: number;
  device?: number;
  mpi?: boolean;
  /** backend "nccl" with MPI: carry on over MPI alone when libnccl is missing. */
  ncclFallback?: boolean;
  rank?: number;
  size?: number;
  localRank?: number;
  idVia?: string;
}
/** mpiProbe(): whether and which MPI this process can use. */
export interface MpiProbe {
  /** This build can use MPI at all (false: built with SQLFOCUS_MPI=OFF). */
  supported: boolean;
  /** Open MPI's libmpi loaded. */
  available: boolean;
  library: string;
  version: string;
  error: string;
  /** This build has the NCCL backend (CUDA builds). */
  nccl: boolean;
}

/** Where a JS object that wraps an addon object (src/train/native.ts's trainer) keeps it. */
export const NATIVE_HANDLE: unique symbol = Symbol.for("sqlfocus.nativeHandle");
/** The addon object behind `obj` (itself when it is one). */
export function nativeHandle(obj: object): object {
  return (obj as { [NATIVE_HANDLE]?: object })[NATIVE_HANDLE] ?? obj;
}

/** The whole addon. Optional members are absent from builds without them. */
export interface NativeAddon {
  buildInfo(): BuildInfo;
  /** A private memory map of the file, or of bytes [offset, offset+length) of it (at most 4 GiB per buffer). */
  mapFile(path: string, offset?: number, length?: number): ArrayBuffer;
  Trainer: BindingTrainerClass;
  quantizerBuilt?: boolean;
  Quantizer?: new (libllamaPath: string, libggmlBasePath?: string) => NativeQuantizer;
  Communicator?: new (options: NativeCommunicatorOptions) => NativeCommunicator;
  mpiProbe?(): MpiProbe;
  mpiFinalize?(): void;
}
