// resolveModel(nameOrPath): where a model's files are on this machine, fetching them when needed.
//   1. a local folder (with config.json)
//   2. the Hugging Face cache: <cache>/models--<org>--<name>/snapshots/<refs/main>/ (huggingface_hub's layout;
//      <cache> = $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub)
//   3. ./model/<org>/<name> or ./model/<name>
//   4. a download from $HF_ENDPOINT (https://huggingface.co): the file list from /api/models/<repo>/revision/main,
//      each file from /<repo>/resolve/<commit>/<file> into the cache's snapshot folder, with a progress bar, resumable
//      (partial data kept in `<file>.incomplete`, continued with an HTTP Range request), $HF_TOKEN sent if set.
// Offline ($HF_HUB_OFFLINE=1, `offline: true`, or the hub unreachable) it fails at once, saying where to put the weights.
import cliProgress from "cli-progress";
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { commitFile, writeFileAtomic } from "../files/index.js";

export interface ResolveModelOptions {
  /** The HF hub cache folder (default $HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub). */
  cacheDir?: string;
  /** The project's model folder (default ./model). */
  modelDir?: string;
  /** Never use the network (default: $HF_HUB_OFFLINE or $TRANSFORMERS_OFFLINE set to 1/true). */
  offline?: boolean;
  /** Hub address (default $HF_ENDPOINT or https://huggingface.co). */
  endpoint?: string;
  /** Access token (default $HF_TOKEN or $HUGGING_FACE_HUB_TOKEN). */
  token?: string;
  /** Branch, tag or commit (default main). */
  revision?: string;
  /** Show a progress bar on stderr while downloading (default: when stderr is a terminal). */
  progress?: boolean;
  /** Called as bytes arrive (for callers drawing their own progress). */
  onProgress?: (p: { file: string; bytes: number; totalBytes: number | undefined }) => void;
}

export interface ResolvedModel {
  dir: string;
  source: "local" | "cache" | "model-dir" | "download";
}

const REPO_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Files a download fetches: weights in safetensors, configs and tokenizer files (not .bin/.gguf/onnx copies). */
export function wantedRepoFile(name: string): boolean {
  if (name.includes("/")) return false;
  if (/\.safetensors$/.test(name) || name === "model.safetensors.index.json") return true;
  if (/\.(json|txt|model|jinja|tiktoken|py|md)$/.test(name)) return !/^(pytorch_model|tf_model|flax_model)/.test(name);
  return name === "LICENSE";
}

function envFlag(name: string): boolean {
  const v = process.env[name];
  return !!v && /^(1|true|yes|on)$/i.test(v);
}

export function defaultHubCacheDir(): string {
  if (process.env.HF_HUB_CACHE) return process.env.HF_HUB_CACHE;
  if (process.env.HF_HOME) return join(process.env.HF_HOME, "hub");
  return join(homedir(), ".cache", "huggingface", "hub");
}

function isModelFolder(dir: string): boolean {
  return existsSync(join(dir, "config.json"));
}

function isCompleteSnapshot(dir: string): boolean {
  return isModelFolder(dir) && !readdirSync(dir).some((f) => f.endsWith(".incomplete"));
}

/** The snapshot folder of `repoId` in the HF cache for `revision`, if it holds a model. */
export function findInHubCache(repoId: string, cacheDir: string, revision = "main"): string | undefined {
  const repoDir = join(cacheDir, `models--${repoId.replace("/", "--")}`);
  if (!existsSync(repoDir)) return undefined;
  const snapshots = join(repoDir, "snapshots");
  let commit: string | undefined;
  const ref = join(repoDir, "refs", revision);
  if (existsSync(ref)) commit = readFileSync(ref, "utf8").trim();
  else if (/^[0-9a-f]{40}$/.test(revision)) commit = revision;
  if (commit && isCompleteSnapshot(join(snapshots, commit))) return join(snapshots, commit);
  if (!commit && existsSync(snapshots)) {
    // No ref for this revision: accept a single complete snapshot (e.g. copied from another machine).
    const found = readdirSync(snapshots).filter((d) => isCompleteSnapshot(join(snapshots, d)));
    if (found.length === 1) return join(snapshots, found[0]);
  }
  return undefined;
}

function whereToPut(repoId: string, cacheDir: string, modelDir: string): string {
  const name = repoId.split("/")[1];
  return (
    `put the model's files (config.json, *.safetensors, tokenizer files) in ${resolve(modelDir, name)}/, ` +
    `or in the Hugging Face cache (${join(cacheDir, `models--${repoId.replace("/", "--")}`, "snapshots", "<commit>")}/ with refs/main naming <commit>, ` +
    `as 'huggingface-cli download ${repoId}' does), or pass --model_name <folder>`
  );
}

/** Finds or fetches a model: a folder, a repo id in the HF cache or ./model/, or a download (see file header). */
export async function resolveModel(nameOrPath: string, options: ResolveModelOptions = {}): Promise<ResolvedModel> {
  if (!nameOrPath) throw new Error("resolveModel: no model name or folder given");
  const asPath = resolve(nameOrPath);
  if (existsSync(asPath) && statSync(asPath).isDirectory()) {
    if (!isModelFolder(asPath)) throw new Error(`${asPath}: not a model folder (no config.json)`);
    return { dir: asPath, source: "local" };
  }
  if (!REPO_ID.test(nameOrPath)) {
    throw new Error(`${nameOrPath}: no such folder, and not a Hugging Face repo id (expected <org>/<name>)`);
  }
  const repoId = nameOrPath;
  const cacheDir = resolve(options.cacheDir ?? defaultHubCacheDir());
  const modelDir = resolve(options.modelDir ?? "model");
  const revision = options.revision ?? "main";
  const cached = findInHubCache(repoId, cacheDir, revision);
  if (cached) return { dir: cached, source: "cache" };
  const [org, name] = repoId.split("/");
  for (const d of [join(modelDir, org, name), join(modelDir, name)]) {
    if (isModelFolder(d)) return { dir: d, source: "model-dir" };
  }
  const offline = options.offline ?? (envFlag("HF_HUB_OFFLINE") || envFlag("TRANSFORMERS_OFFLINE"));
  if (offline)
    throw new Error(
      `${repoId} is not on this machine and downloads are off (offline mode): ${whereToPut(repoId, cacheDir, modelDir)}`,
    );
  try {
    const dir = await downloadModel(repoId, cacheDir, revision, options);
    return { dir, source: "download" };
  } catch (e) {
    const err = e as Error & { hubNetwork?: boolean };
    if (err.hubNetwork)
      throw new Error(
        `${repoId} is not on this machine and the hub cannot be reached (${err.message}): ${whereToPut(repoId, cacheDir, modelDir)}`,
        { cause: e },
      );
    throw e;
  }
}

interface RepoInfo {
  sha: string;
  siblings: { rfilename: string; size?: number }[];
}

function hubHeaders(options: ResolveModelOptions): Record<string, string> {
  const token = options.token ?? process.env.HF_TOKEN ?? process.env.HUGGING_FACE_HUB_TOKEN;
  const h: Record<string, string> = { "user-agent": "sqlfocus" };
  if (token) h.authorization = `Bearer ${token}`;
  return h;
}

function networkError(message: string, cause?: unknown): Error {
  const e = new Error(message, { cause }) as Error & { hubNetwork: boolean };
  e.hubNetwork = true;
  return e;
}

async function hubFetch(url: string, init: RequestInit, what: string): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (e) {
    const cause = (e as Error & { cause?: Error }).cause;
    throw networkError(`${what}: ${cause?.message ?? (e as Error).message}`, e);
  }
}

async function downloadModel(
  repoId: string,
  cacheDir: string,
  revision: string,
  options: ResolveModelOptions,
): Promise<string> {
  const endpoint = (options.endpoint ?? process.env.HF_ENDPOINT ?? "https://huggingface.co").replace(/\/+$/, "");
  const headers = hubHeaders(options);
  const apiUrl = `${endpoint}/api/models/${repoId}/revision/${encodeURIComponent(revision)}?blobs=true`;
  const res = await hubFetch(apiUrl, { headers, signal: AbortSignal.timeout(30_000) }, `GET ${apiUrl}`);
  if (res.status === 401 || res.status === 403)
    throw new Error(
      `${repoId}: access denied by ${endpoint} (HTTP ${res.status}); set HF_TOKEN to a token that can read it`,
    );
  if (res.status === 404) throw new Error(`${repoId}: no such model (or revision '${revision}') on ${endpoint}`);
  if (!res.ok) throw networkError(`GET ${apiUrl}: HTTP ${res.status}`);
  const info = (await res.json()) as RepoInfo;
  if (!info || typeof info.sha !== "string" || !/^[0-9a-f]{40}$/.test(info.sha) || !Array.isArray(info.siblings)) {
    throw new Error(`GET ${apiUrl}: unexpected answer (no commit sha / file list)`);
  }
  // config.json last: a snapshot folder with config.json is taken as complete by later runs.
  const files = info.siblings
    .filter((s) => s && typeof s.rfilename === "string" && wantedRepoFile(s.rfilename))
    .sort((a, b) => Number(a.rfilename === "config.json") - Number(b.rfilename === "config.json"));
  if (!files.some((f) => f.rfilename === "config.json"))
    throw new Error(`${repoId}: the repository has no config.json (not a transformers model?)`);
  if (!files.some((f) => f.rfilename.endsWith(".safetensors")))
    throw new Error(`${repoId}: the repository has no .safetensors weights (only those are read)`);

  const repoDir = join(cacheDir, `models--${repoId.replace("/", "--")}`);
  const snapshot = join(repoDir, "snapshots", info.sha);
  mkdirSync(snapshot, { recursive: true });
  const known = files.every((f) => typeof f.size === "number");
  let totalBytes = known ? files.reduce((a, f) => a + (f.size ?? 0), 0) : undefined;
  let doneBytes = 0;
  const showBar = options.progress ?? !!process.stderr.isTTY;
  const bar = showBar
    ? new cliProgress.SingleBar(
        {
          format: `download ${repoId} [{bar}] {percentage}% | {done}/{all} MiB | {file}`,
          stream: process.stderr,
          hideCursor: true,
          noTTYOutput: true,
          notTTYSchedule: 5000,
          fps: 5,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  const mib = (n: number) => (n / 2 ** 20).toFixed(1);
  bar?.start(totalBytes ?? 1, 0, { done: "0", all: totalBytes ? mib(totalBytes) : "?", file: "" });
  try {
    for (const f of files) {
      const target = join(snapshot, f.rfilename);
      if (existsSync(target) && (f.size === undefined || statSync(target).size === f.size)) {
        doneBytes += statSync(target).size;
        continue;
      }
      const url = `${endpoint}/${repoId}/resolve/${info.sha}/${f.rfilename.split("/").map(encodeURIComponent).join("/")}`;
      await downloadFile(url, target, headers, f.size, (n, total) => {
        doneBytes += n;
        if (totalBytes === undefined && total !== undefined) totalBytes = total;
        bar?.setTotal(Math.max(totalBytes ?? doneBytes, doneBytes));
        bar?.update(doneBytes, { done: mib(doneBytes), all: totalBytes ? mib(totalBytes) : "?", file: f.rfilename });
        options.onProgress?.({ file: f.rfilename, bytes: doneBytes, totalBytes });
      });
    }
  } finally {
    bar?.stop();
  }
  mkdirSync(join(repoDir, "refs"), { recursive: true });
  if (!/^[0-9a-f]{40}$/.test(revision)) writeFileAtomic(join(repoDir, "refs", revision), info.sha);
  return snapshot;
}

/** GET `url` into `target` via `<target>.incomplete`, continuing a partial file with a Range request. */
async function downloadFile(
  url: string,
  target: string,
  headers: Record<string, string>,
  size: number | undefined,
  onBytes: (n: number, total: number | undefined) => void,
): Promise<void> {
  mkdirSync(dirname(target), { recursive: true });
  const partial = `${target}.incomplete`;
  let have = existsSync(partial) ? statSync(partial).size : 0;
  if (size !== undefined && have > size) {
    rmSync(partial);
    have = 0;
  }
  const reqHeaders = { ...headers, ...(have > 0 ? { range: `bytes=${have}-` } : {}) };
  const res = await hubFetch(url, { headers: reqHeaders, redirect: "follow" }, `GET ${url}`);
  if (res.status === 416 && size !== undefined && have === size) {
    commitFile(partial, target);
    return;
  }
  if (!res.ok || !res.body) throw networkError(`GET ${url}: HTTP ${res.status}`);
  let append = false;
  if (res.status === 206 && have > 0) {
    const range = /^bytes (\d+)-/.exec(res.headers.get("content-range") ?? "");
    if (!range || Number(range[1]) !== have)
      throw new Error(`GET ${url}: the server resumed at the wrong offset (${res.headers.get("content-range")})`);
    append = true;
    onBytes(have, size);
  } else have = 0;
  const len = res.headers.get("content-length");
  const expected = size ?? (len !== null ? have + Number(len) : undefined);
  const out = createWriteStream(partial, { flags: append ? "a" : "w", flush: true });
  const body = Readable.fromWeb(res.body as import("node:stream/web").ReadableStream<Uint8Array>);
  body.on("data", (chunk: Buffer) => onBytes(chunk.length, expected));
  try {
    await pipeline(body, out);
  } catch (e) {
    throw networkError(
      `GET ${url}: download interrupted after ${existsSync(partial) ? statSync(partial).size : 0} bytes (run again to resume): ${(e as Error).message}`,
      e,
    );
  }
  const got = statSync(partial).size;
  if (expected !== undefined && got !== expected) {
    throw networkError(`GET ${url}: got ${got} of ${expected} bytes (run again to resume)`);
  }
  commitFile(partial, target);
}
