// `sqlfocus board`: a Fastify server over a logdir of run folders. The page (board-page.ts) lists runs, draws
// their metrics with uPlot (served from node_modules, so it works offline) and follows runs live through
// server-sent events.
//   GET /                      the page
//   GET /vendor/uplot.js|.css  uPlot
//   GET /api/runs              runs, newest first
//   GET /api/runs/:id          config, system snapshot, status (metrics come over /api/events)
//   GET /api/events?runs=a,b   SSE: `metrics` {run, rows}, `system` {run, rows}, `status` {run, status}, `runs` [...]
import { existsSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import Fastify, { type FastifyInstance } from "fastify";
import { readJsonFile } from "./files.js";
import { JsonlTail, listRuns, type RunSummary } from "./read.js";
import { BOARD_PAGE } from "./board-page.js";

export interface BoardOptions {
  /** A folder of run folders, or a training output folder holding runs/ (default CLI value: output). */
  logdir: string;
  /** How often followed files are checked for new lines (default 500 ms). */
  pollMs?: number;
}

/** The folder that holds the run folders: <logdir>/runs when it exists, else logdir itself. */
export function runsDirOf(logdir: string): string {
  const runs = join(logdir, "runs");
  return existsSync(runs) && statSync(runs).isDirectory() ? runs : logdir;
}

const RUN_ID = /^[A-Za-z0-9._-]+$/;

function uplotFile(name: string): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve("uplot/package.json")), "dist", name);
}

/** Builds the board's Fastify app (not listening yet). */
export function createBoardServer(options: BoardOptions): FastifyInstance {
  const logdir = resolve(options.logdir);
  const pollMs = options.pollMs ?? 500;
  const app = Fastify({ logger: false, forceCloseConnections: true });
  const runsDir = () => runsDirOf(logdir);
  const vendor = {
    js: readFileSync(uplotFile("uPlot.iife.min.js"), "utf8"),
    css: readFileSync(uplotFile("uPlot.min.css"), "utf8"),
  };

  app.get("/", async (_req, reply) => reply.type("text/html; charset=utf-8").send(BOARD_PAGE));
  app.get("/favicon.ico", async (_req, reply) => reply.code(204).send());
  app.get("/vendor/uplot.js", async (_req, reply) =>
    reply.type("application/javascript; charset=utf-8").send(vendor.js),
  );
  app.get("/vendor/uplot.css", async (_req, reply) => reply.type("text/css; charset=utf-8").send(vendor.css));
  app.get("/api/runs", async () => ({ logdir: runsDir(), runs: listRuns(runsDir()) }));
  app.get<{ Params: { id: string } }>("/api/runs/:id", async (req, reply) => {
    const id = req.params.id;
    const dir = join(runsDir(), id);
    if (!RUN_ID.test(id) || !existsSync(dir)) return reply.code(404).send({ error: `no run ${id} in ${runsDir()}` });
    try {
      return {
        id,
        config: readJsonFile(join(dir, "config.json")),
        system: readJsonFile(join(dir, "system.json")),
        status: readJsonFile(join(dir, "status.json")),
        summary: listRuns(runsDir()).find((r) => r.id === id) ?? null,
      };
    } catch (err) {
      return reply.code(500).send({ error: (err as Error).message });
    }
  });

  app.get<{ Querystring: { runs?: string } }>("/api/events", (req, reply) => {
    const ids = (req.query.runs ?? "").split(",").filter((s) => s.length > 0);
    const bad = ids.find((id) => !RUN_ID.test(id));
    if (bad !== undefined) {
      void reply.code(400).send({ error: `bad run id ${JSON.stringify(bad)}` });
      return;
    }
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      connection: "keep-alive",
      "x-accel-buffering": "no",
    });
    const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    const followed = ids.map((id) => {
      const dir = join(runsDir(), id);
      return {
        id,
        dir,
        metrics: new JsonlTail(join(dir, "metrics.jsonl")),
        system: new JsonlTail(join(dir, "system.jsonl")),
        status: "",
      };
    });
    let runsKey = "";
    let ticks = 0;
    const tick = () => {
      try {
        for (const f of followed) {
          const m = f.metrics.read();
          if (m.length > 0) send("metrics", { run: f.id, rows: m });
          const s = f.system.read();
          if (s.length > 0) send("system", { run: f.id, rows: s });
          let st = "";
          try {
            st = existsSync(join(f.dir, "status.json")) ? readFileSync(join(f.dir, "status.json"), "utf8") : "";
          } catch {
            st = f.status;
          }
          if (st !== f.status && st.trim().length > 0) {
            f.status = st;
            try {
              send("status", { run: f.id, status: JSON.parse(st) });
            } catch {
              // partly visible file: next tick
              f.status = "";
            }
          }
        }
        const runs: RunSummary[] = listRuns(runsDir());
        const key = JSON.stringify(runs);
        if (key !== runsKey) {
          runsKey = key;
          send("runs", runs);
        }
        if (++ticks % Math.max(1, Math.round(15000 / pollMs)) === 0) res.write(": keep-alive\n\n");
      } catch (err) {
        send("problem", { message: (err as Error).message });
      }
    };
    tick();
    send("ready", { runs: ids });
    const timer = setInterval(tick, pollMs);
    const stop = () => clearInterval(timer);
    req.raw.on("close", stop);
    res.on("error", stop);
  });
  return app;
}

/** Starts the board and returns its address. */
export async function startBoard(
  options: BoardOptions & { port?: number; host?: string },
): Promise<{ app: FastifyInstance; url: string }> {
  const app = createBoardServer(options);
  const host = options.host ?? "127.0.0.1";
  await app.listen({ port: options.port ?? 5092, host });
  const a = app.server.address();
  const port = typeof a === "object" && a ? a.port : (options.port ?? 5092);
  return { app, url: `http://${host.includes(":") ? `[${host}]` : host}:${port}/` };
}
