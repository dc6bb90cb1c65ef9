// Worker thread of prompt-guard.ts: counts tokens with the model's own vocabulary (the same GGUF, loaded
// vocabulary-only by node-llama-cpp), so that a long prompt is measured without stalling the main thread.
//   main → worker  { id, text }   worker → main  { id, tokens } | { id, error }
import { parentPort, workerData } from "node:worker_threads";

const { modelPath } = workerData as { modelPath: string };

const model = (async () => {
  const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
  const llama = await getLlama({
    gpu: false,
    build: "never",
    skipDownload: true,
    progressLogs: false,
    logLevel: LlamaLogLevel.error,
  });
  return llama.loadModel({ modelPath, gpuLayers: 0, vocabOnly: true });
})();

parentPort!.on("message", async (msg: { id: number; text: string }) => {
  try {
    const m = await model;
    parentPort!.postMessage({ id: msg.id, tokens: m.tokenize(msg.text).length });
  } catch (err) {
    parentPort!.postMessage({ id: msg.id, error: (err as Error)?.message ?? String(err) });
  }
});
