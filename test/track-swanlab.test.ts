// The SwanLab sink against a local fake SwanLab server (no network): login and the sid cookie, project and
// experiment creation, config upload, metric keys and scalars, the final state, resume into the same
// experiment, failures reported without stopping training and resent later, and runTrackers' env switch.
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { createSwanLabTracker, runTrackers, SwanLabTracker, TensorBoardTracker } from "../src/track/index.js";

const root = mkdtempSync(join(tmpdir(), "sqlfocus-track-swanlab-"));
interface Req {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: unknown;
}
let requests: Req[] = [];
let failMetrics = 0;
let experiments = 0;
let server: Server;
let host = "";

before(async () => {
  server = createServer((req, res) => {
    let raw = "";
    req.on("data", (c) => (raw += c));
    req.on("end", () => {
      const body = raw ? JSON.parse(raw) : null;
      requests.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      const send = (status: number, data: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(data));
      };
      const u = req.url!;
      if (u === "/api/login/api_key") {
        if (req.headers.authorization !== "good-key") return send(401, { message: "Unauthorized" });
        return send(200, { sid: "sid-123", expiredAt: "2099-01-01T00:00:00.000Z", userInfo: { username: "alice" } });
      }
      if (req.headers.cookie !== "sid=sid-123") return send(401, { message: "no session" });
      if (req.method === "POST" && u === "/api/projects/alice") return send(201, { name: body.name });
      if (req.method === "GET" && u === "/api/project/alice/sqlfocus")
        return send(200, { cuid: "proj-1", name: "sqlfocus" });
      if (req.method === "POST" && u === "/api/project/alice/sqlfocus/experiment") {
        if (body.cuid) return send(200, { cuid: body.cuid, name: body.name });
        return send(201, { cuid: `exp-${++experiments}`, name: body.name });
      }
      if (req.method === "PUT" && /^\/api\/project\/alice\/sqlfocus\/runs\/exp-\d+\/(profile|state)$/.test(u))
        return send(200, {});
      if (req.method === "POST" && u === "/api/projects/alice/sqlfocus/series") return send(201, {});
      if (req.method === "POST" && u === "/api/house/metrics") {
        if (failMetrics > 0) {
          failMetrics--;
          return send(503, { message: "busy" });
        }
        return send(200, {});
      }
      send(404, { message: `no route ${req.method} ${u}` });
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const a = server.address();
  host = `http://127.0.0.1:${typeof a === "object" && a ? a.port : 0}`;
});
after(() => {
  server.close();
  rmSync(root, { recursive: true, force: true });
});

const paths = () => requests.map((r) => `${r.method} ${r.url}`);

test("a bad key is refused at login with the HTTP status named", async () => {
  await assert.rejects(
    createSwanLabTracker({ apiKey: "bad", apiHost: host, experimentName: "x" }),
    /SwanLab POST .*\/api\/login\/api_key: HTTP 401/,
  );
});

test("a run's config, metric keys, scalars and final state reach SwanLab; a resumed run continues the experiment", async () => {
  requests = [];
  const stateFile = join(root, "run-a", "swanlab.json");
  const errors: Error[] = [];
  const tr = await createSwanLabTracker({
    apiKey: "good-key",
    apiHost: host,
    experimentName: "run-a",
    config: { learning_rate: 0.0001, lora_rank: 8 },
    stateFile,
    flushIntervalMs: 0,
    onError: (e) => errors.push(e),
  });
  assert.equal(tr.experimentId, "exp-1");
  assert.equal(tr.resumed, false);
  tr.log(1, { loss: 2.5, lr: 0.0001 });
  tr.log(2, { loss: Number.NaN, lr: 0.0002 });
  await tr.finish({ status: "interrupted" });
  assert.deepEqual(errors, []);
  assert.deepEqual(paths(), [
    "POST /api/login/api_key",
    "POST /api/projects/alice",
    "GET /api/project/alice/sqlfocus",
    "POST /api/project/alice/sqlfocus/experiment",
    "PUT /api/project/alice/sqlfocus/runs/exp-1/profile",
    "POST /api/projects/alice/sqlfocus/series",
    "POST /api/house/metrics",
    "PUT /api/project/alice/sqlfocus/runs/exp-1/state",
  ]);
  assert.equal(requests[0]!.headers.authorization, "good-key");
  assert.deepEqual(requests[4]!.body, {
    config: { learning_rate: { value: 0.0001, sort: 0, desc: "" }, lora_rank: { value: 8, sort: 1, desc: "" } },
  });
  assert.deepEqual(requests[5]!.body, {
    series: [
      { key: "loss", type: "FLOAT" },
      { key: "lr", type: "FLOAT" },
    ],
  });
  const m = requests[6]!.body as {
    type: string;
    projectId: string;
    experimentId: string;
    metrics: { key: string; index: number; data: unknown; create_time: string }[];
  };
  assert.equal(m.type, "scalar");
  assert.equal(m.projectId, "proj-1");
  assert.equal(m.experimentId, "exp-1");
  assert.deepEqual(
    m.metrics.map((x) => [x.key, x.index, x.data]),
    [
      ["loss", 1, 2.5],
      ["lr", 1, 0.0001],
      ["loss", 2, "nan"],
      ["lr", 2, 0.0002],
    ],
  );
  assert.ok(m.metrics.every((x) => !Number.isNaN(Date.parse(x.create_time))));
  assert.equal((requests[7]!.body as { state: string }).state, "ABORTED");
  assert.deepEqual(JSON.parse(readFileSync(stateFile, "utf8")).experimentId, "exp-1");

  requests = [];
  const again = await createSwanLabTracker({
    apiKey: "good-key",
    apiHost: host,
    experimentName: "run-a",
    stateFile,
    flushIntervalMs: 0,
  });
  assert.equal(again.experimentId, "exp-1", "same SwanLab experiment after resume");
  assert.equal(again.resumed, true);
  assert.equal((requests.find((r) => r.url.endsWith("/experiment"))!.body as { cuid: string }).cuid, "exp-1");
  again.log(3, { loss: 1.5 });
  await again.finish({ status: "finished" });
  assert.equal((requests.at(-1)!.body as { state: string }).state, "FINISHED");
});

test("a failed upload is reported, does not throw, and is sent again on the next flush", async () => {
  requests = [];
  failMetrics = 1;
  const errors: Error[] = [];
  const tr = await createSwanLabTracker({
    apiKey: "good-key",
    apiHost: host,
    experimentName: "run-b",
    flushIntervalMs: 0,
    onError: (e) => errors.push(e),
  });
  tr.log(1, { loss: 3 });
  await tr.flush();
  assert.equal(errors.length, 1);
  assert.match(errors[0]!.message, /house\/metrics: HTTP 503/);
  tr.log(2, { loss: 2 });
  await tr.finish({ status: "failed", error: "x" });
  const sent = requests
    .filter((r) => r.url === "/api/house/metrics")
    .map((r) => (r.body as { metrics: { index: number }[] }).metrics.map((x) => x.index));
  assert.deepEqual(sent, [[1], [1, 2]]);
  assert.equal((requests.at(-1)!.body as { state: string }).state, "CRASHED");
});

test("runTrackers: TensorBoard always, SwanLab only with SWANLAB_API_KEY, an unreachable SwanLab is a warning", async () => {
  const run = { id: "r1", dir: join(root, "r1") };
  const none = await runTrackers({ run, env: {} });
  assert.deepEqual(
    none.map((t) => t.constructor),
    [TensorBoardTracker],
  );
  const both = await runTrackers({ run, env: { SWANLAB_API_KEY: "good-key", SWANLAB_API_HOST: host } });
  assert.deepEqual(
    both.map((t) => t.constructor),
    [TensorBoardTracker, SwanLabTracker],
  );
  for (const t of both) await t.finish({ status: "finished" });
  const warnings: string[] = [];
  const down = await runTrackers({
    run,
    tensorboard: false,
    env: { SWANLAB_API_KEY: "bad", SWANLAB_API_HOST: host },
    warn: (m) => warnings.push(m),
  });
  assert.equal(down.length, 0);
  assert.match(warnings[0]!, /not logging to SwanLab: .*HTTP 401/);
});
