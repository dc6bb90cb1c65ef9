// SwanLab cloud sink: a TrainTracker that mirrors a run's scalars to SwanLab (swanlab.cn or a self-hosted
// server) over its HTTP API, as the Python SDK does. The local run folder is always written too; the cloud is
// best effort: network or API errors are reported through onError and never stop training.
//
// The API (base = apiHost + "/api"):
//   POST /login/api_key  (header authorization: <key>)      → { sid, expiredAt, userInfo: { username } }
//        every later request sends the cookie sid=<sid>
//   POST /projects/<workspace>  { name, visibility }        → 200 exists / 201 created
//   GET  /project/<workspace>/<project>                     → { cuid, … }
//   POST /project/<workspace>/<project>/experiment  { name, createdAt, colors, description?, cuid? }
//                                                           → { cuid, name, … } (201 new, 200 resumed)
//   PUT  /project/<workspace>/<project>/runs/<exp>/profile  { config: { key: { value, sort, desc } } } | { metadata }
//   POST /projects/<workspace>/<project>/series  { series: [{ key, type: "FLOAT" }] }   (new metric keys)
//   POST /house/metrics  { type: "scalar", projectId, experimentId, metrics: [{ key, index, data, create_time }] }
//   PUT  /project/<workspace>/<project>/runs/<exp>/state  { state: FINISHED|CRASHED|ABORTED, finishedAt, from: "sdk" }
import { existsSync } from "node:fs";
import { writeJsonAtomic } from "../files/index.js";
import { readJsonFile } from "./files.js";

export interface SwanLabTrackerOptions {
  apiKey: string;
  /** Default $SWANLAB_API_HOST or https://api.swanlab.cn. */
  apiHost?: string;
  /** Default $SWANLAB_PROJ_NAME or "sqlfocus". */
  project?: string;
  /** Default $SWANLAB_WORKSPACE or the key's user. */
  workspace?: string;
  experimentName: string;
  description?: string;
  config?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
  /**
   * A JSON file remembering the SwanLab experiment (e.g. <run dir>/swanlab.json): when it exists the
   * experiment it names is continued (a resumed run stays one SwanLab experiment); it is written on creation.
   */
  stateFile?: string;
  /** How often buffered scalars are sent (default 5000 ms; they are also sent on finish). */
  flushIntervalMs?: number;
  fetch?: typeof fetch;
  /** Called for every failed request (default: one console warning per distinct message). */
  onError?: (err: Error) => void;
}

interface Scalar {
  key: string;
  index: number;
  data: number | "nan";
  create_time: string;
}

export class SwanLabApiError extends Error {
  constructor(
    readonly method: string,
    readonly url: string,
    readonly status: number,
    readonly body: string,
  ) {
    super(`SwanLab ${method} ${url}: HTTP ${status}${body ? ` ${body.slice(0, 200)}` : ""}`);
    this.name = "SwanLabApiError";
  }
}

class SwanLabClient {
  private sid: string | null = null;
  username = "";

  constructor(
    readonly base: string,
    private readonly apiKey: string,
    private readonly fetchImpl: typeof fetch,
  ) {}

  async login(): Promise<void> {
    const url = `${this.base}/login/api_key`;
    const r = await this.fetchImpl(url, { method: "POST", headers: { authorization: this.apiKey } });
    const text = await r.text();
    if (r.status !== 200)
      throw new SwanLabApiError("POST", url, r.status, r.status === 401 ? "(API key rejected)" : text);
    const body = JSON.parse(text) as { sid?: string; userInfo?: { username?: string } };
    if (!body.sid) throw new SwanLabApiError("POST", url, r.status, "login answer has no sid");
    this.sid = body.sid;
    this.username = body.userInfo?.username ?? "";
  }

  async request<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    retryAuth = true,
  ): Promise<{ status: number; data: T }> {
    const url = `${this.base}${path}`;
    const headers: Record<string, string> = { cookie: `sid=${this.sid ?? ""}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    const r = await this.fetchImpl(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    if (r.status === 401 && retryAuth) {
      await this.login();
      return this.request(method, path, body, false);
    }
    if (r.status < 200 || r.status >= 300) throw new SwanLabApiError(method, url, r.status, text);
    let data: unknown = text;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      // not JSON: keep the text
    }
    return { status: r.status, data: data as T };
  }
}

/** SwanLab's config form: { key: { value, sort, desc } }. */
export function swanLabConfig(
  config: Record<string, unknown>,
): Record<string, { value: unknown; sort: number; desc: string }> {
  const out: Record<string, { value: unknown; sort: number; desc: string }> = {};
  Object.entries(config).forEach(([k, v], i) => (out[k] = { value: v, sort: i, desc: "" }));
  return out;
}

const STATE_OF = { finished: "FINISHED", failed: "CRASHED", interrupted: "ABORTED" } as const;

/** A TrainTracker for SwanLab; make one with createSwanLabTracker(). */
export class SwanLabTracker {
  private buffer: Scalar[] = [];
  private knownKeys = new Set<string>();
  private newKeys: string[] = [];
  private timer: NodeJS.Timeout | null = null;
  private sending: Promise<void> = Promise.resolve();
  private finished = false;

  constructor(
    private readonly client: SwanLabClient,
    readonly workspace: string,
    readonly project: string,
    readonly projectId: string,
    readonly experimentId: string,
    /** True when an existing experiment was continued. */
    readonly resumed: boolean,
    private readonly flushIntervalMs: number,
    private readonly onError: (err: Error) => void,
  ) {}

  log(step: number, metrics: Record<string, number>): void {
    if (this.finished) return;
    const t = new Date().toISOString();
    for (const [key, v] of Object.entries(metrics)) {
      if (typeof v !== "number") continue;
      if (!this.knownKeys.has(key)) {
        this.knownKeys.add(key);
        this.newKeys.push(key);
      }
      this.buffer.push({ key, index: step, data: Number.isFinite(v) ? v : "nan", create_time: t });
    }
    if (!this.timer && this.flushIntervalMs > 0) {
      this.timer = setTimeout(() => {
        this.timer = null;
        void this.flush();
      }, this.flushIntervalMs);
      this.timer.unref();
    }
  }

  /** Sends buffered metric keys and scalars now (in order; a failed batch is kept for the next flush). */
  flush(): Promise<void> {
    const next = this.sending.then(async () => {
      const p = `/${encodeURIComponent(this.workspace)}/${encodeURIComponent(this.project)}`;
      try {
        if (this.newKeys.length > 0) {
          const keys = this.newKeys.slice();
          await this.client.request("POST", `/projects${p}/series`, {
            series: keys.map((key) => ({ key, type: "FLOAT" })),
          });
          this.newKeys.splice(0, keys.length);
        }
        if (this.buffer.length > 0) {
          const batch = this.buffer.slice(0, 10_000);
          await this.client.request("POST", "/house/metrics", {
            type: "scalar",
            projectId: this.projectId,
            experimentId: this.experimentId,
            metrics: batch,
          });
          this.buffer.splice(0, batch.length);
        }
      } catch (err) {
        if (this.buffer.length > 100_000) this.buffer.splice(0, this.buffer.length - 100_000);
        this.onError(err as Error);
      }
    });
    this.sending = next;
    return next;
  }

  /** Sends what is left and marks the experiment FINISHED, CRASHED or ABORTED. */
  async finish(result: { status: "finished" | "failed" | "interrupted"; error?: string }): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.flush();
    try {
      await this.client.request(
        "PUT",
        `/project/${encodeURIComponent(this.workspace)}/${encodeURIComponent(this.project)}/runs/${this.experimentId}/state`,
        {
          state: STATE_OF[result.status],
          finishedAt: new Date().toISOString(),
          from: "sdk",
        },
      );
    } catch (err) {
      this.onError(err as Error);
    }
  }
}

function defaultOnError(): (err: Error) => void {
  const seen = new Set<string>();
  return (err) => {
    if (seen.has(err.message)) return;
    seen.add(err.message);
    console.warn(`swanlab: ${err.message} (training goes on; the local run folder has everything)`);
  };
}

/** Logs in, makes sure the project exists, creates (or continues) the experiment and uploads config/metadata. */
export async function createSwanLabTracker(options: SwanLabTrackerOptions): Promise<SwanLabTracker> {
  const host = (options.apiHost ?? process.env.SWANLAB_API_HOST ?? "https://api.swanlab.cn")
    .replace(/\/+$/, "")
    .replace(/\/api$/, "");
  const client = new SwanLabClient(`${host}/api`, options.apiKey, options.fetch ?? fetch);
  await client.login();
  const workspace = options.workspace ?? process.env.SWANLAB_WORKSPACE ?? client.username;
  if (!workspace) throw new Error("swanlab: no workspace (the login answer had no username; set SWANLAB_WORKSPACE)");
  const project = options.project ?? process.env.SWANLAB_PROJ_NAME ?? "sqlfocus";
  const ws = encodeURIComponent(workspace);
  const pj = encodeURIComponent(project);
  await client.request("POST", `/projects/${ws}`, { name: project, visibility: "PRIVATE" });
  const proj = await client.request<{ cuid?: string }>("GET", `/project/${ws}/${pj}`);
  if (!proj.data?.cuid) throw new Error(`swanlab: project ${workspace}/${project} answer has no cuid`);

  let previous: { experimentId?: string } | null = null;
  if (options.stateFile && existsSync(options.stateFile)) previous = readJsonFile(options.stateFile);
  const body: Record<string, unknown> = {
    name: options.experimentName,
    createdAt: new Date().toISOString(),
    colors: ["#528d59", "#528d59"],
  };
  if (options.description) body.description = options.description;
  if (previous?.experimentId) body.cuid = previous.experimentId;
  const exp = await client.request<{ cuid?: string }>("POST", `/project/${ws}/${pj}/experiment`, body);
  if (!exp.data?.cuid) throw new Error(`swanlab: experiment answer has no cuid`);
  const experimentId = exp.data.cuid;
  if (options.stateFile)
    writeJsonAtomic(options.stateFile, { apiHost: host, workspace, project, projectId: proj.data.cuid, experimentId });
  const profile = `/project/${ws}/${pj}/runs/${experimentId}/profile`;
  const onError = options.onError ?? defaultOnError();
  try {
    if (options.config) await client.request("PUT", profile, { config: swanLabConfig(options.config) });
    if (options.metadata) await client.request("PUT", profile, { metadata: options.metadata });
  } catch (err) {
    onError(err as Error);
  }
  return new SwanLabTracker(
    client,
    workspace,
    project,
    proj.data.cuid,
    experimentId,
    exp.status === 200,
    options.flushIntervalMs ?? 5000,
    onError,
  );
}
