// Server benchmark: requests/s, p50/p99 latency and generation tokens/s through the text2sql server
// (autocannon on loopback) against node-llama-cpp called directly (LlamaChat on the sequences of one
// context, same GGUF, same settings), at concurrency 1 and 8.
//
//   npx tsx bench/server/bench.ts [--model file.gguf] [--requests 48] [--max-tokens 32] [--threads 1] [--sequences 8] [--rounds 3]
//
// Direct and server runs alternate (round by round) so that a machine whose load drifts treats both alike;
// the table gives each configuration's median round.
//
// Without --model a tiny random Qwen2 (4 layers, hidden 256, Qwen2.5 vocabulary, F16) is made in a temp folder.
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { getLlama, LlamaChat, LlamaLogLevel, JinjaTemplateChatWrapper, type ChatHistoryItem } from "node-llama-cpp";
import { initTinyModel } from "../../src/model/index.js";
import { toGGUF } from "../../src/gguf/index.js";
import { buildNl2SqlPrompt, LlamaChatModel } from "../../src/text2sql/index.js";
import { createServer } from "../../src/server/index.js";

const { values } = parseArgs({
  options: {
    model: { type: "string" },
    requests: { type: "string", default: "48" },
    "max-tokens": { type: "string", default: "32" },
    threads: { type: "string", default: "1" },
    sequences: { type: "string", default: "8" },
    rounds: { type: "string", default: "3" },
  },
});
const REQUESTS = Number(values.requests);
const MAX_TOKENS = Number(values["max-tokens"]);
const THREADS = Number(values.threads);
const SEQUENCES = Number(values.sequences);
const ROUNDS = Number(values.rounds);
const CONTEXT = 1024;
const SCHEMA =
  "【DB_ID】 concert_singer\n【Schema】\n# Table: singer\n[\n(singer_id:INTEGER, Primary Key),\n(name:TEXT),\n(age:INTEGER)\n]";
const QUESTION = "How many singers are older than 30?";

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface Row {
  how: string;
  concurrency: number;
  requests: number;
  rps: number;
  p50: number;
  p99: number;
  tokS: number;
  /** CPU time of this process (generation, HTTP, JSON; for the server run also the autocannon client) per generated token. */
  cpuMsPerToken: number;
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

async function direct(modelPath: string, concurrency: number): Promise<Row> {
  const llama = await getLlama({ gpu: false, build: "never", skipDownload: true, logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
  const context = await model.createContext({ sequences: SEQUENCES, contextSize: CONTEXT, threads: THREADS });
  const wrapper = new JinjaTemplateChatWrapper({
    template: model.fileInfo.metadata.tokenizer.chat_template!,
    tokenizer: model.tokenizer,
  });
  const sequences = Array.from({ length: concurrency }, () => context.getSequence());
  const prompt = buildNl2SqlPrompt({ question: QUESTION, dbSchema: SCHEMA, dialect: "SQLite" });
  const history: ChatHistoryItem[] = [
    { type: "user", text: prompt },
    { type: "model", response: [] },
  ];
  const latencies: number[] = [];
  let tokens = 0;
  let next = 0;
  const one = async (seq: (typeof sequences)[number]) => {
    const t = performance.now();
    const chat = new LlamaChat({ contextSequence: seq, chatWrapper: wrapper, autoDisposeSequence: false });
    await chat.generateResponse(history, {
      maxTokens: MAX_TOKENS,
      temperature: 0,
      onToken: (tk) => (tokens += tk.length),
    });
    chat.dispose({ disposeSequence: false });
    latencies.push(performance.now() - t);
  };
  // warm-up (prompt in every sequence's cache, as the server's sequences get after their first request)
  await Promise.all(sequences.map((s) => one(s)));
  latencies.length = 0;
  tokens = 0;
  const cpu0 = cpuMs();
  const start = performance.now();
  await Promise.all(
    sequences.map(async (s) => {
      while (next < REQUESTS) {
        next++;
        await one(s);
      }
    }),
  );
  const secs = (performance.now() - start) / 1000;
  const cpu = cpuMs() - cpu0;
  await context.dispose();
  await model.dispose();
  latencies.sort((a, b) => a - b);
  return {
    how: "node-llama-cpp direct",
    concurrency,
    requests: REQUESTS,
    rps: REQUESTS / secs,
    p50: pct(latencies, 50),
    p99: pct(latencies, 99),
    tokS: tokens / secs,
    cpuMsPerToken: cpu / tokens,
  };
}

async function throughServer(modelPath: string, concurrency: number): Promise<Row> {
  const model = await LlamaChatModel.load({ modelPath, sequences: SEQUENCES, contextSize: CONTEXT, threads: THREADS });
  const app = await createServer({ model, logger: false, maxQueue: 64 });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/text2sql`;
  const body = JSON.stringify({ question: QUESTION, db_schema: SCHEMA, max_tokens: MAX_TOKENS });
  let tokens = 0;
  const opts = {
    url,
    method: "POST" as const,
    headers: { "content-type": "application/json" },
    body,
    connections: concurrency,
    timeout: 600,
    setupClient: (client: autocannon.Client) => {
      client.on("body", (b: Buffer) => {
        try {
          tokens += JSON.parse(b.toString()).usage?.completion_tokens ?? 0;
        } catch {
          /* not JSON */
        }
      });
    },
  };
  await autocannon({ ...opts, amount: concurrency }); // warm-up, as for direct
  tokens = 0;
  const cpu0 = cpuMs();
  const r = await autocannon({ ...opts, amount: REQUESTS });
  const cpu = cpuMs() - cpu0;
  await app.close();
  if (r.errors || r.non2xx) throw new Error(`server run had ${r.errors} errors and ${r.non2xx} non-2xx answers`);
  const secs = r.duration;
  return {
    how: "server POST /text2sql",
    concurrency,
    requests: r["2xx"],
    rps: r["2xx"] / secs,
    p50: r.latency.p50,
    p99: r.latency.p99,
    tokS: tokens / secs,
    cpuMsPerToken: cpu / tokens,
  };
}

const tmp = mkdtempSync(join(tmpdir(), "sqlfocus-bench-server-"));
try {
  let modelPath = values.model;
  if (!modelPath) {
    await initTinyModel(join(tmp, "tiny"), {
      layers: 4,
      hidden: 256,
      intermediate: 768,
      heads: 4,
      kvHeads: 2,
      tied: true,
      dtype: "f16",
      seed: 1,
    });
    modelPath = join(tmp, "tiny.gguf");
    await toGGUF({ model: join(tmp, "tiny"), out: modelPath, type: "F16" });
  }
  console.log(
    `model ${values.model ?? "tiny random Qwen2 (4 layers, hidden 256, F16)"}; ${REQUESTS} requests, max_tokens ${MAX_TOKENS}, threads ${THREADS}, ${SEQUENCES} sequences`,
  );
  console.log(
    `machine: ${cpus().length} × ${cpus()[0]?.model}; load average at start ${loadavg()
      .map((x) => x.toFixed(1))
      .join(" ")}`,
  );
  const runs = new Map<string, Row[]>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of [1, 8]) {
      for (const f of [direct, throughServer]) {
        const r = await f(modelPath, c);
        const key = `${r.how}|${c}`;
        runs.set(key, [...(runs.get(key) ?? []), r]);
        console.log(
          `round ${round + 1}: ${r.how} c=${c}: ${r.rps.toFixed(2)} req/s, ${r.tokS.toFixed(1)} tokens/s, ${r.cpuMsPerToken.toFixed(2)} CPU ms/token`,
        );
      }
    }
  }
  const median = (rs: Row[]) => [...rs].sort((a, b) => a.tokS - b.tokS)[Math.floor(rs.length / 2)]!;
  const rows = [...runs.values()].map(median);
  console.log(
    "\n| how | concurrency | requests | req/s | p50 ms | p99 ms | gen tokens/s | CPU ms/token |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  );
  for (const r of rows)
    console.log(
      `| ${r.how} | ${r.concurrency} | ${r.requests} | ${r.rps.toFixed(2)} | ${r.p50.toFixed(0)} | ${r.p99.toFixed(0)} | ${r.tokS.toFixed(1)} | ${r.cpuMsPerToken.toFixed(2)} |`,
    );
  for (const c of [1, 8]) {
    const d = runs.get(`node-llama-cpp direct|${c}`)!;
    const s = runs.get(`server POST /text2sql|${c}`)!;
    const ratios = d.map((x, i) => 100 * (1 - s[i]!.tokS / x.tokS));
    const cpuMed = (rs: Row[]) => [...rs].map((x) => x.cpuMsPerToken).sort((a, b) => a - b)[Math.floor(rs.length / 2)]!;
    console.log(
      `concurrency ${c}: CPU per token through the server ${(100 * (cpuMed(s) / cpuMed(d) - 1)).toFixed(1)}% vs direct (medians)`,
    );
    console.log(
      `concurrency ${c}: server overhead in tokens/s per round ${ratios.map((x) => x.toFixed(1) + "%").join(", ")}; medians ${(100 * (1 - median(s).tokS / median(d).tokS)).toFixed(1)}%`,
    );
  }
  console.log(
    `load average at end ${loadavg()
      .map((x) => x.toFixed(1))
      .join(" ")}`,
  );
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
