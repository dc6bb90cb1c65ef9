// The board's single page: run list, uPlot charts per metric (runs overlaid), config/system panels, live
// updates from /api/events. Plain browser JavaScript, no build step; uPlot comes from /vendor.
export const BOARD_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>sqlfocus board</title>
<link rel="stylesheet" href="/vendor/uplot.css">
<style>
  body { margin: 0; font: 14px system-ui, sans-serif; color: #222; display: flex; min-height: 100vh; }
  #side { width: 280px; border-right: 1px solid #ddd; padding: 12px; box-sizing: border-box; background: #fafafa; }
  #side h1 { font-size: 18px; margin: 0 0 4px; }
  #logdir { color: #777; font-size: 12px; word-break: break-all; margin-bottom: 10px; }
  .run { display: flex; align-items: center; gap: 6px; padding: 4px 0; }
  .run label { flex: 1; word-break: break-all; cursor: pointer; }
  .swatch { width: 10px; height: 10px; border-radius: 2px; display: inline-block; }
  .badge { font-size: 11px; padding: 1px 5px; border-radius: 8px; background: #eee; }
  .badge.running { background: #d8f0ff; } .badge.finished { background: #dff5df; }
  .badge.failed, .badge.crashed { background: #fbdada; } .badge.interrupted { background: #fff1cc; }
  #main { flex: 1; padding: 12px; box-sizing: border-box; min-width: 0; }
  #charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(460px, 1fr)); gap: 12px; }
  .chart { border: 1px solid #e3e3e3; border-radius: 6px; padding: 6px; }
  .chart .empty { color: #999; padding: 20px; }
  #info { display: flex; flex-wrap: wrap; gap: 12px; margin-top: 16px; }
  .panel { border: 1px solid #e3e3e3; border-radius: 6px; padding: 8px 10px; min-width: 320px; flex: 1; }
  .panel h3 { margin: 0 0 6px; font-size: 14px; }
  .panel table { border-collapse: collapse; font-size: 12px; width: 100%; }
  .panel td { padding: 2px 6px; border-top: 1px solid #f0f0f0; vertical-align: top; word-break: break-all; }
  .panel td:first-child { color: #555; white-space: nowrap; word-break: normal; }
  #live { font-size: 12px; color: #777; }
</style>
</head>
<body>
<div id="side">
  <h1>sqlfocus board</h1>
  <div id="logdir"></div>
  <div id="runs"></div>
  <div id="live">connecting…</div>
</div>
<div id="main">
  <div id="charts"></div>
  <div id="info"></div>
</div>
<script src="/vendor/uplot.js"></script>
<script>
"use strict";
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];
// Metric charts: x = step. System charts: x = seconds since the run's first sample.
const CHARTS = [
  { name: "loss", title: "Training loss", key: "loss" },
  { name: "eval_loss", title: "Eval loss", key: "eval_loss" },
  { name: "lr", title: "Learning rate", key: "lr", exp: true },
  { name: "grad_norm", title: "Grad norm", key: "grad_norm" },
  { name: "tokens_per_s", title: "Tokens / s", key: "tokens_per_s" },
  { name: "memory", title: "Process memory (MB)", key: "mem_rss_mb" },
  { name: "cpu", title: "CPU % (machine)", system: (s) => s.cpu_percent },
  { name: "ram", title: "Process RSS (MB, sampled)", system: (s) => s.process_rss_mb },
  { name: "gpu", title: "GPU utilisation %", system: (s) => (s.gpus && s.gpus.length ? s.gpus[0].utilization_percent : undefined), hideEmpty: true },
  { name: "gpu_mem", title: "GPU memory used (MB)", system: (s) => (s.gpus && s.gpus.length ? s.gpus[0].memory_used_mb : undefined), hideEmpty: true },
];
const state = { runs: [], selected: [], metrics: {}, system: {}, details: {}, source: null, updates: 0 };
window.boardState = state;
window.boardCharts = {};
const $ = (id) => document.getElementById(id);
const el = (tag, props, ...kids) => { const e = document.createElement(tag); Object.assign(e, props || {}); for (const k of kids) e.append(k); return e; };
const colorOf = (id) => COLORS[Math.max(0, state.selected.indexOf(id)) % COLORS.length];

// A resumed run may log a step again: a later session's rows replace earlier ones from its first step on.
function resolveSessions(rows) {
  const first = new Map();
  for (const r of rows) { const s = r.session || 1; if (!first.has(s)) first.set(s, r.step); }
  return rows.filter((r) => { const s = r.session || 1; for (const [t, step] of first) if (t > s && r.step >= step) return false; return true; });
}

function seriesFor(id, chart) {
  if (chart.system) {
    const rows = state.system[id] || [];
    const t0 = rows.length ? Date.parse(rows[0].time) : 0;
    const pts = [];
    for (const r of rows) { const v = chart.system(r); if (typeof v === "number" && isFinite(v)) pts.push([(Date.parse(r.time) - t0) / 1000, v]); }
    return pts;
  }
  const pts = [];
  for (const r of resolveSessions(state.metrics[id] || [])) { const v = r[chart.key]; if (typeof v === "number" && isFinite(v)) pts.push([r.step, v]); }
  return pts;
}

// uPlot wants one shared x array: the union of the runs' x values, null where a run has no point.
function align(perRun) {
  const xs = [...new Set(perRun.flatMap((p) => p.map((q) => q[0])))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const ys = perRun.map((p) => { const y = new Array(xs.length).fill(null); for (const [x, v] of p) y[index.get(x)] = v; return y; });
  return [xs, ...ys];
}

function chartBox(chart) {
  let box = document.querySelector('[data-chart="' + chart.name + '"]');
  if (!box) { box = el("div", { className: "chart" }); box.dataset.chart = chart.name; $("charts").append(box); }
  return box;
}

function draw() {
  for (const chart of CHARTS) {
    const ids = state.selected;
    const perRun = ids.map((id) => seriesFor(id, chart));
    const box = chartBox(chart);
    const total = perRun.reduce((n, p) => n + p.length, 0);
    const old = window.boardCharts[chart.name];
    const shape = ids.join("|");
    if (total === 0) {
      if (old) { old.destroy(); delete window.boardCharts[chart.name]; }
      box.replaceChildren(el("div", { className: "empty", textContent: chart.title + ": no data yet" }));
      box.style.display = chart.hideEmpty ? "none" : "";
      continue;
    }
    box.style.display = "";
    const data = align(perRun);
    if (old && old.shape === shape) { old.setData(data); continue; }
    if (old) old.destroy();
    box.replaceChildren();
    const width = Math.max(300, box.clientWidth - 12);
    const opts = {
      title: chart.title, width, height: 220,
      scales: { x: { time: false } },
      legend: { live: true },
      series: [{ label: chart.system ? "seconds" : "step" }, ...ids.map((id) => ({ label: id, stroke: colorOf(id), width: 2, spanGaps: true, points: { show: data[0].length < 60, size: 5 } }))],
      axes: [{ label: chart.system ? "seconds since start" : "step" }, chart.exp ? { size: 70, values: (u, vals) => vals.map((v) => (v == null ? "" : v.toExponential(1))) } : { size: 60 }],
    };
    const u = new uPlot(opts, data, box);
    u.shape = shape;
    window.boardCharts[chart.name] = u;
  }
  state.updates++;
}
let pending = false;
function redraw() { if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; draw(); }); } }

function table(rows) {
  const t = el("table");
  for (const [k, v] of rows) if (v !== undefined && v !== null && v !== "") t.append(el("tr", {}, el("td", { textContent: k }), el("td", { textContent: typeof v === "object" ? JSON.stringify(v) : String(v) })));
  return t;
}
function drawInfo() {
  const info = $("info");
  info.replaceChildren();
  for (const id of state.selected) {
    const d = state.details[id];
    if (!d) continue;
    const sys = d.system || {};
    const st = d.status || {};
    const sysRows = [
      ["status", st.status], ["started", st.started], ["finished", st.finished], ["error", st.error], ["sessions", st.sessions ? st.sessions.length : undefined],
      ["host", sys.hostname], ["platform", sys.platform && sys.platform + " " + sys.release + " " + sys.arch],
      ["CPU", sys.cpu && sys.cpu.model + " × " + sys.cpu.cores], ["RAM (MB)", sys.ram_total_mb],
      ["GPUs", sys.gpus && sys.gpus.length ? sys.gpus.map((g) => g.name + " " + g.memory_total_mb + " MB").join(", ") : "none"],
      ["node", sys.node], ["sqlfocus", sys.sqlfocus], ["git", sys.git ? sys.git.commit + (sys.git.dirty ? " (dirty)" : "") : undefined],
      ["command", sys.command ? sys.command.join(" ") : undefined], ["cwd", sys.cwd],
    ];
    const head = (title) => el("h3", {}, el("span", { className: "swatch", style: "background:" + colorOf(id) }), " " + title);
    info.append(el("div", { className: "panel" }, head(id + " — config"), table(Object.entries(d.config || {}))));
    info.append(el("div", { className: "panel" }, head(id + " — system"), table(sysRows)));
  }
}

function drawRuns() {
  const box = $("runs");
  box.replaceChildren();
  for (const r of state.runs) {
    const cb = el("input", { type: "checkbox", checked: state.selected.includes(r.id), id: "run-" + r.id });
    cb.dataset.run = r.id;
    cb.addEventListener("change", () => select(cb.checked ? [...state.selected, r.id] : state.selected.filter((x) => x !== r.id)));
    const status = r.stale ? "crashed" : r.status;
    box.append(el("div", { className: "run" }, cb,
      el("span", { className: "swatch", style: "background:" + (state.selected.includes(r.id) ? colorOf(r.id) : "transparent") }),
      el("label", { htmlFor: "run-" + r.id, textContent: r.id + (r.last_step != null ? " · step " + r.last_step : "") }),
      el("span", { className: "badge " + status, textContent: status })));
  }
}

async function select(ids) {
  state.selected = ids;
  const q = new URLSearchParams(location.search);
  if (ids.length) q.set("runs", ids.join(",")); else q.delete("runs");
  history.replaceState(null, "", "?" + q.toString());
  state.metrics = {}; state.system = {};
  for (const id of ids) { state.metrics[id] = []; state.system[id] = []; }
  for (const c of Object.values(window.boardCharts)) c.destroy();
  window.boardCharts = {};
  $("charts").replaceChildren();
  drawRuns();
  await Promise.all(ids.filter((id) => !state.details[id]).map(async (id) => { const r = await fetch("/api/runs/" + encodeURIComponent(id)); if (r.ok) state.details[id] = await r.json(); }));
  drawInfo();
  connect();
  redraw();
}

function connect() {
  if (state.source) state.source.close();
  state.ready = false;
  const src = new EventSource("/api/events?runs=" + encodeURIComponent(state.selected.join(",")));
  state.source = src;
  src.addEventListener("metrics", (e) => { const m = JSON.parse(e.data); if (state.metrics[m.run]) { state.metrics[m.run].push(...m.rows); redraw(); } });
  src.addEventListener("system", (e) => { const m = JSON.parse(e.data); if (state.system[m.run]) { state.system[m.run].push(...m.rows); redraw(); } });
  src.addEventListener("status", (e) => { const m = JSON.parse(e.data); if (state.details[m.run]) { state.details[m.run].status = m.status; drawInfo(); } });
  src.addEventListener("runs", (e) => { state.runs = JSON.parse(e.data); drawRuns(); });
  src.addEventListener("ready", () => { state.ready = true; $("live").textContent = "live · " + state.selected.length + " run(s)"; });
  src.onerror = () => { $("live").textContent = "reconnecting…"; };
}

(async () => {
  const r = await (await fetch("/api/runs")).json();
  state.runs = r.runs;
  $("logdir").textContent = r.logdir;
  const asked = (new URLSearchParams(location.search).get("runs") || "").split(",").filter((x) => r.runs.some((y) => y.id === x));
  await select(asked.length ? asked : r.runs.slice(0, 1).map((x) => x.id));
})();
</script>
</body>
</html>
`;
