// Refuses prompts that cannot fit the context before anything tokenises them on the main thread:
//   1. a bound that costs nothing: no token of the model's vocabulary covers more than `maxTokenBytes` bytes, so a
//      prompt of B bytes has at least B / maxTokenBytes tokens (Qwen2: 128, so 4096 tokens hold at most 512 KiB);
//   2. a long prompt (over 16 KiB) is counted on a worker thread with the model's own vocabulary (node-llama-cpp,
//      the same GGUF loaded vocabulary-only); only a prompt that fits reaches the main thread's tokenizer.
// The exact check (chat template included) still runs in LlamaChatModel.complete for what passes.
import type { Worker } from "node:worker_threads";
import { siblingScript, startWorkerThread } from "./worker-thread.js";

/** Prompts shorter than this are tokenised where they are used: a few milliseconds on the main thread. */
const OFFLOAD_MIN_BYTES = 16 * 1024;

export interface PromptVerdict {
  /** Tokens at least (the bound) or counted (the worker); undefined: not measured here. */
  tokens?: number;
  exact: boolean;
}

export class PromptGuard {
  private worker?: Worker;
  private readonly pending = new Map<number, { resolve: (n: number) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private failed = false;

  constructor(
    private readonly modelPath: string,
    /** Longest token of the vocabulary in bytes of text it stands for. */
    readonly maxTokenBytes: number,
  ) {}

  /** Measures the text when it is long; `undefined` when it is short enough to tokenise in place. */
  async measure(text: string, budget: number): Promise<PromptVerdict> {
    const bytes = Buffer.byteLength(text, "utf8");
    const atLeast = Math.ceil(bytes / Math.max(1, this.maxTokenBytes));
    if (atLeast > budget) return { tokens: atLeast, exact: false };
    if (bytes < OFFLOAD_MIN_BYTES || this.failed) return { exact: false };
    try {
      return { tokens: await this.count(text), exact: true };
    } catch {
      this.failed = true; // no worker here (e.g. the runtime cannot load in a thread): the exact check remains
      return { exact: false };
    }
  }

  private count(text: string): Promise<number> {
    const worker = (this.worker ??= this.start());
    const id = this.nextId++;
    worker.ref(); // a count in flight keeps the process alive; an idle worker does not
    const counted = new Promise<number>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    worker.postMessage({ id, text }); // queued until the worker has loaded the vocabulary
    return counted.finally(() => {
      if (this.pending.size === 0) this.worker?.unref();
    });
  }

  private start(): Worker {
    const worker = startWorkerThread(siblingScript(import.meta.url, "token-count-worker"), {
      modelPath: this.modelPath,
    });
    worker.on("message", (msg: { id: number; tokens?: number; error?: string }) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.error !== undefined) p.reject(new Error(msg.error));
      else p.resolve(msg.tokens!);
    });
    const fail = (err: Error) => {
      this.worker = undefined;
      for (const [id, p] of this.pending) {
        this.pending.delete(id);
        p.reject(err);
      }
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`token counter exited (${code})`)));
    worker.unref();
    return worker;
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }
}

/** Bytes of text the longest token of a GGUF vocabulary stands for (Infinity when the GGUF lists no tokens). */
export function maxTokenBytes(metadata: unknown): number {
  const tok = (metadata as { tokenizer?: { ggml?: { tokens?: readonly string[]; model?: string } } } | undefined)
    ?.tokenizer?.ggml;
  if (!tok?.tokens?.length) return Infinity;
  // Byte-level BPE ("gpt2": Qwen2, Llama 3) writes each byte as one character; other vocabularies' UTF-8 text is at
  // least as long as the bytes it stands for ("▁" for a space, "<0x41>" for a byte).
  const byteLevel = tok.model === "gpt2";
  let max = 1;
  for (const t of tok.tokens) {
    const n = byteLevel ? t.length : Buffer.byteLength(t, "utf8");
    if (n > max) max = n;
  }
  return max;
}
