// An in-process ChatModel for the server's route tests: replies come from a function of the request,
// generation can be held until released (to test queueing), and sequence use is counted like the real one.
import type { ChatCompletion, ChatModel, ChatRequest } from "../src/text2sql/index.js";
import { resolveAdapter } from "../src/text2sql/index.js";

export class FakeChatModel implements ChatModel {
  readonly requests: ChatRequest[] = [];
  private inUse = 0;
  maxInUse = 0;
  private held: Array<() => void> = [];
  hold = false;
  closed = false;

  constructor(
    readonly reply: (req: ChatRequest) => string = () => "SELECT 1\n```",
    readonly parallelism = 2,
    readonly adapters: readonly string[] = [],
    readonly id = "fake-model",
    /** Mean log-probability reported for a reply when a request asks for log-probs. */
    readonly logprob?: (req: ChatRequest, text: string) => number,
  ) {}

  /** Lets every held generation finish. */
  release(): void {
    const h = this.held;
    this.held = [];
    for (const f of h) f();
  }

  get waitingHeld(): number {
    return this.held.length;
  }

  async complete(req: ChatRequest): Promise<ChatCompletion> {
    const adapter = resolveAdapter(req.adapter, this.adapters);
    if (this.inUse >= this.parallelism)
      throw new Error(`fake model: more than ${this.parallelism} sequences requested at once`);
    this.inUse++;
    this.maxInUse = Math.max(this.maxInUse, this.inUse);
    this.requests.push(req);
    const start = performance.now();
    try {
      if (this.hold) await new Promise<void>((r) => this.held.push(r));
      else await new Promise((r) => setImmediate(r));
      let text = this.reply(req);
      let finishReason: ChatCompletion["finishReason"] = "stop";
      const words = text.split(/(?<= )/);
      if (req.maxTokens !== undefined && words.length > req.maxTokens) {
        text = words.slice(0, req.maxTokens).join("");
        finishReason = "length";
      }
      if (req.onText) for (const w of text.split(/(?<= )/)) req.onText(w);
      const promptTokens = req.messages.reduce((n, m) => n + m.content.split(/\s+/).length, 0);
      const logprob = req.logprobs && this.logprob ? { logprob: this.logprob(req, text) } : {};
      return {
        text,
        finishReason,
        promptTokens,
        completionTokens: text.split(/(?<= )/).length,
        ms: performance.now() - start,
        adapter,
        ...logprob,
      };
    } finally {
      this.inUse--;
    }
  }

  sequences(): { inUse: number; total: number } {
    return { inUse: this.inUse, total: this.parallelism };
  }

  async dispose(): Promise<void> {
    this.closed = true;
  }
}
