// node-llama-cpp side of the GGUF tests: load a GGUF on the CPU, get next-token probabilities at every position of a
// prompt and greedy continuations.
import { getLlama, type Llama, type LlamaModel, type Token } from "node-llama-cpp";

let llama: Promise<Llama> | undefined;
export function cpuLlama(): Promise<Llama> {
  llama ??= getLlama({ gpu: false, build: "never", logLevel: "error" as never, progressLogs: false } as never);
  return llama;
}

export async function loadGguf(path: string): Promise<LlamaModel> {
  return (await cpuLlama()).loadModel({ modelPath: path });
}

/** Next-token log-probabilities (temperature 1) after each prompt position, and the greedy continuation. */
export async function llamaLogProbs(
  model: LlamaModel,
  tokens: number[],
  generate: number,
  lora?: string,
): Promise<{ logProbs: Map<number, number>[]; greedy: number[] }> {
  const ctx = await model.createContext({
    contextSize: 256,
    ...(lora ? { lora: { adapters: [{ filePath: lora, scale: 1 }] } } : {}),
  });
  try {
    const seq = ctx.getSequence();
    const items = tokens.map(
      (t) => [t as Token, { generateNext: { probabilities: true, options: { temperature: 1 } } }] as const,
    );
    const res = await seq.controlledEvaluate(items as never);
    const logProbs = res.map((r) => {
      const m = new Map<number, number>();
      for (const [tok, p] of (r as { next: { probabilities: Map<Token, number> } }).next.probabilities)
        m.set(tok as number, Math.log(p));
      return m;
    });
    const greedy: number[] = [];
    if (generate > 0) {
      await seq.clearHistory();
      for await (const t of seq.evaluate(tokens as Token[], { temperature: 0 })) {
        greedy.push(t as number);
        if (greedy.length >= generate) break;
      }
    }
    return { logProbs, greedy };
  } finally {
    await ctx.dispose();
  }
}

/** log-softmax of one row of logits. */
export function logSoftmax(row: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) max = Math.max(max, row[i]);
  let s = 0;
  for (let i = 0; i < row.length; i++) s += Math.exp(row[i] - max);
  const lse = max + Math.log(s);
  const out = new Float64Array(row.length);
  for (let i = 0; i < row.length; i++) out[i] = row[i] - lse;
  return out;
}

export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}
