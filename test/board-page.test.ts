// sqlfocus board: the API over recorded run folders, server-sent events following a growing run, and the page
// in headless Chromium (Debian's /usr/bin/chromium via playwright-core; skipped without it, a failure under CI): the charts' data
// points equal the recorded metrics, two runs overlay, config/system panels, a live run updates, a screenshot.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { createRun, startBoard, type Run } from "../src/track/index.js";
import { chromiumPath, requireChromium } from "./helpers/services.js";

const root = mkdtempSync(join(tmpdir(), "sqlfocus-board-"));
const logdir = join(root, "output");
const CHROMIUM = chromiumPath;
let url = "";
let close: () => Promise<void> = async () => {};
let runA: Run;
let runB: Run;

const lossA = (s: number) => 3 / s;
const lossB = (s: number) => 2.5 / s + 0.1;

before(async () => {
  let clock = Date.parse("2026-11-25T10:00:00Z");
  const now = () => new Date((clock += 1000));
  runA = await createRun({
    logdir: join(logdir, "runs"),
    name: "a",
    config: { learning_rate: 0.0002, lora_rank: 8, model_name_or_path: "Qwen/Qwen2.5-Coder-0.5B-Instruct" },
    systemIntervalMs: 0,
    now,
  });
  for (let s = 1; s <= 12; s++) {
    runA.log(s, {
      loss: lossA(s),
      lr: 2e-4 * (1 - s / 12),
      grad_norm: 1 / s,
      tokens_per_s: 1000 + s,
      mem_rss_mb: 500 + s,
    });
    if (s % 4 === 0) runA.log(s, { eval_loss: lossA(s) + 0.5 });
  }
  await runA.finish({ status: "finished" });
  runB = await createRun({
    logdir: join(logdir, "runs"),
    name: "b",
    config: { learning_rate: 0.0001, lora_rank: 16 },
    systemIntervalMs: 0,
    now,
  });
  for (let s = 2; s <= 16; s += 2)
    runB.log(s, { loss: lossB(s), lr: 1e-4, grad_norm: 0.5, tokens_per_s: 900, mem_rss_mb: 600 });
  await runB.finish({ status: "interrupted" });
  const b = await startBoard({ logdir, port: 0, pollMs: 100 });
  url = b.url;
  close = () => b.app.close();
});
after(async () => {
  await close();
  rmSync(root, { recursive: true, force: true });
});

const getJson = async (path: string) => {
  const r = await fetch(new URL(path, url));
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
};

test("API: runs under <logdir>/runs, one run's config/system/status, bad ids refused", async () => {
  const list = await getJson("/api/runs");
  const runs = list.body.runs as { id: string; status: string; last_step: number }[];
  assert.deepEqual(
    runs.map((r) => [r.id, r.status, r.last_step]),
    [
      [runB.id, "interrupted", 16],
      [runA.id, "finished", 12],
    ],
  );
  const one = await getJson(`/api/runs/${runA.id}`);
  assert.equal(one.status, 200);
  assert.deepEqual(one.body.config, {
    learning_rate: 0.0002,
    lora_rank: 8,
    model_name_or_path: "Qwen/Qwen2.5-Coder-0.5B-Instruct",
  });
  assert.equal((one.body.system as { pid: number }).pid, process.pid);
  assert.equal((await getJson("/api/runs/nope")).status, 404);
  assert.equal((await getJson("/api/runs/..%2F..%2Fetc")).status, 404);
  assert.equal((await getJson("/api/events?runs=..%2Fx")).status, 400);
  const page = await fetch(url);
  assert.match(await page.text(), /<script src="\/vendor\/uplot.js">/);
  const js = await fetch(new URL("/vendor/uplot.js", url));
  assert.equal(js.status, 200);
  assert.match(await js.text(), /uPlot/);
});

test("SSE: the recorded rows first, then rows appended while the run trains", async () => {
  const live = await createRun({ logdir: join(logdir, "runs"), name: "sse", config: {}, systemIntervalMs: 0 });
  live.log(1, { loss: 1 });
  const events: { event: string; data: unknown }[] = [];
  let buf = "";
  const req = request(new URL(`/api/events?runs=${live.id}`, url));
  const waitFor = (pred: () => boolean) =>
    new Promise<void>((resolve, reject) => {
      const t0 = Date.now();
      const poll = () =>
        pred()
          ? resolve()
          : Date.now() - t0 > 10_000
            ? reject(new Error(`timed out; events: ${JSON.stringify(events)}`))
            : setTimeout(poll, 20);
      poll();
    });
  req.on("response", (res) => {
    assert.match(String(res.headers["content-type"]), /text\/event-stream/);
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => {
      buf += chunk;
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const ev = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (ev && data) events.push({ event: ev, data: JSON.parse(data) });
      }
    });
  });
  req.end();
  try {
    await waitFor(() => events.some((e) => e.event === "ready"));
    const rows = () =>
      events
        .filter((e) => e.event === "metrics")
        .flatMap((e) => (e.data as { rows: { step: number; loss: number }[] }).rows.map((r) => [r.step, r.loss]));
    assert.deepEqual(rows(), [[1, 1]]);
    live.log(2, { loss: 0.5 });
    live.log(3, { loss: 0.25 });
    await waitFor(() => rows().length === 3);
    assert.deepEqual(rows(), [
      [1, 1],
      [2, 0.5],
      [3, 0.25],
    ]);
    await live.finish({ status: "finished" });
    await waitFor(() =>
      events.some(
        (e) => e.event === "status" && (e.data as { status: { status: string } }).status.status === "finished",
      ),
    );
  } finally {
    req.destroy();
  }
});

test(
  "the page in Chromium: chart data points, overlay, panels, live update, screenshot",
  { skip: requireChromium() },
  async () => {
    const { chromium } = await import("playwright-core");
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      await page.goto(`${url}?runs=${runA.id},${runB.id}`);
      await page.waitForFunction(
        () => {
          const w = window as unknown as { boardCharts: Record<string, { data: unknown[][] }> };
          return w.boardCharts.loss?.data?.[0]?.length === 14 && w.boardCharts.eval_loss !== undefined;
        },
        undefined,
        { timeout: 20_000 },
      );
      const data = await page.evaluate(() => {
        const w = window as unknown as {
          boardCharts: Record<string, { data: unknown[][]; series: { label: string }[] }>;
        };
        return Object.fromEntries(
          Object.entries(w.boardCharts).map(([k, u]) => [k, { data: u.data, labels: u.series.map((s) => s.label) }]),
        );
      });
      // Loss: x = union of both runs' steps (A logs 1..12, B logs 2,4,..,16), null where a run has no point.
      const xs = [...new Set([...Array.from({ length: 12 }, (_, i) => i + 1), 2, 4, 6, 8, 10, 12, 14, 16])].sort(
        (a, b) => a - b,
      );
      assert.deepEqual(data.loss!.labels, ["step", runA.id, runB.id]);
      assert.deepEqual(data.loss!.data, [
        xs,
        xs.map((s) => (s <= 12 ? lossA(s) : null)),
        xs.map((s) => (s % 2 === 0 ? lossB(s) : null)),
      ]);
      assert.deepEqual(data.eval_loss!.data, [[4, 8, 12], [4, 8, 12].map((s) => lossA(s) + 0.5), [null, null, null]]);
      assert.deepEqual((data.lr!.data[1] as (number | null)[]).slice(0, 3), [
        2e-4 * (1 - 1 / 12),
        2e-4 * (1 - 2 / 12),
        2e-4 * (1 - 3 / 12),
      ]);
      assert.deepEqual((data.tokens_per_s!.data[1] as number[]).slice(0, 2), [1001, 1002]);
      assert.deepEqual(
        (data.memory!.data[2] as (number | null)[]).filter((v) => v !== null),
        Array(8).fill(600),
      );
      assert.deepEqual(data.grad_norm!.data[0], xs);
      const info = await page.locator("#info").innerText();
      assert.match(info, /model_name_or_path\s+Qwen\/Qwen2\.5-Coder-0\.5B-Instruct/);
      assert.match(info, /lora_rank\s+16/);
      assert.match(info, new RegExp(`node\\s+${process.version.replace(/\./g, "\\.")}`));
      assert.equal((await page.locator("canvas").count()) >= 6, true, "one canvas per metric chart");

      // Live: a run that is still training appears in the list and its chart grows as it logs.
      const live = await createRun({
        logdir: join(logdir, "runs"),
        name: "live",
        config: { lora_rank: 4 },
        systemIntervalMs: 0,
      });
      live.log(1, { loss: 4 });
      await page.waitForSelector(`input[data-run="${live.id}"]`, { timeout: 10_000 });
      await page.goto(`${url}?runs=${live.id}`);
      await page.waitForFunction(
        () =>
          (window as unknown as { boardCharts: Record<string, { data: unknown[][] }> }).boardCharts.loss?.data?.[0]
            ?.length === 1,
        undefined,
        { timeout: 10_000 },
      );
      live.log(2, { loss: 3 });
      live.log(3, { loss: 2 });
      await page.waitForFunction(
        () =>
          (window as unknown as { boardCharts: Record<string, { data: unknown[][] }> }).boardCharts.loss?.data?.[0]
            ?.length === 3,
        undefined,
        { timeout: 10_000 },
      );
      const liveLoss = await page.evaluate(
        () => (window as unknown as { boardCharts: Record<string, { data: unknown[][] }> }).boardCharts.loss!.data,
      );
      assert.deepEqual(liveLoss, [
        [1, 2, 3],
        [4, 3, 2],
      ]);
      await live.finish({ status: "finished" });
      await page.waitForFunction(
        () => document.querySelector("#info")?.textContent?.includes("finished") === true,
        undefined,
        { timeout: 10_000 },
      );

      await page.goto(`${url}?runs=${runA.id},${runB.id}`);
      await page.waitForFunction(
        () =>
          (window as unknown as { boardCharts: Record<string, { data: unknown[][] }> }).boardCharts.loss?.data?.[0]
            ?.length === 14,
        undefined,
        { timeout: 10_000 },
      );
      const shot = join(root, "screenshots", "board.png");
      await page.screenshot({ path: shot, fullPage: true });
      const png = readFileSync(shot);
      assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      assert.ok(png.length > 20_000, `a screenshot with charts (${png.length} bytes)`);
      if (process.env.SQLFOCUS_BOARD_SCREENSHOT)
        (await import("node:fs")).copyFileSync(shot, process.env.SQLFOCUS_BOARD_SCREENSHOT);
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  },
);
