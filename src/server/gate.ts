// A bounded admission queue: at most `concurrency` jobs run at once (the model's parallel sequences), at
// most `maxQueue` wait; one more is refused at once (the server answers 503 with Retry-After). A waiting
// job whose client went away is dropped from the queue.

export class QueueFullError extends Error {
  constructor(readonly maxQueue: number) {
    super(`server busy: ${maxQueue} requests already waiting; retry later`);
    this.name = "QueueFullError";
  }
}

export class RequestGate {
  private active = 0;
  private readonly waiting: Array<{ start: () => void; cancel: (err: Error) => void }> = [];

  constructor(
    readonly concurrency: number,
    readonly maxQueue: number,
  ) {
    if (!Number.isInteger(concurrency) || concurrency < 1)
      throw new Error(`concurrency must be a positive integer (got ${concurrency})`);
    if (!Number.isInteger(maxQueue) || maxQueue < 0)
      throw new Error(`maxQueue must be a non-negative integer (got ${maxQueue})`);
  }

  get running(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  async run<T>(job: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (this.active >= this.concurrency) {
      if (this.waiting.length >= this.maxQueue) throw new QueueFullError(this.maxQueue);
      await new Promise<void>((resolve, reject) => {
        const entry = {
          start: () => {
            signal?.removeEventListener("abort", onAbort);
            resolve();
          },
          cancel: reject,
        };
        const onAbort = () => {
          const i = this.waiting.indexOf(entry);
          if (i >= 0) this.waiting.splice(i, 1);
          reject(signal!.reason instanceof Error ? signal!.reason : new Error("request aborted while queued"));
        };
        if (signal?.aborted) return onAbort();
        signal?.addEventListener("abort", onAbort, { once: true });
        this.waiting.push(entry);
      });
    } else {
      this.active++;
    }
    try {
      return await job();
    } finally {
      const next = this.waiting.shift();
      if (next)
        next.start(); // the slot passes straight to the next job
      else this.active--;
    }
  }
}
