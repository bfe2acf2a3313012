// Bench live page: subscribes to /api/stream (server-sent events) and draws, with uPlot, the triggered sweeps (every
// sample around each stimulus, as the service cuts them) and the continuous view (the service's 1 ms min/max buckets).
"use strict";

const token = new URLSearchParams(location.search).get("token");
const withToken = (url) => token ? url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token) : url;
const $ = (id) => document.getElementById(id);
// Until the first metrics bring the service's own wording (threshold_definition, from the analysis).
const THRESHOLD_DEFINITION = "Threshold: the membrane potential where its own rate of rise first reaches 10 mV/ms on the way up to the peak (dV/dt over 0.2 ms, the stimulus current's share I/C removed)";

async function api(method, url, body) {
  const init = { method, headers: {} };
  if (token) init.headers.Authorization = "Bearer " + token;
  if (body !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
  const response = await fetch(url, init);
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) throw new Error(data && data.error ? data.error : response.status + " " + response.statusText);
  return data;
}

// What the tests (and a curious teacher, in the console) can read of the page's state.
window.benchView = {
  tracePoints: 0, modelPoints: 0, markersDrawn: 0, markersReceived: 0, phases: [], draws: 0, labelsOverlap: 0,
  sweepsReceived: 0, sweep: null, cursors: null, stimulusError: null, played: 0, metrics: null,
};

// ---- y ranges: auto (the data, padded) or fixed (the two numbers) ----------------------------------------------
function yRange(plot, min, max) {
  const el = document.querySelector(`.yrange[data-plot="${plot}"]`);
  if (!el.querySelector(".y-auto").checked) {
    const lo = Number(el.querySelector(".y-min").value), hi = Number(el.querySelector(".y-max").value);
    if (Number.isFinite(lo) && Number.isFinite(hi) && hi > lo) return [lo, hi];
  }
  if (min == null || max == null || !Number.isFinite(min) || !Number.isFinite(max)) return [-100, 60];
  const pad = Math.max(0.5, (max - min) * 0.08);
  return [min - pad, max + pad];
}

// ---- the continuous view: decimated buckets keyed by their start time; recorded and model arrive separately -------
const KEEP_MS = 10000;
const buckets = new Map();   // time_ms -> [recordedMin, recordedMax, modelMin, modelMax]
const model = { t: [], iNa: [], iK: [], m: [], h: [], n: [] };
const markers = [];
let windowMs = 1000, frozen = false, latestMs = 0, viewOrigin = 0;

function trim(series, keys, minT) {
  let k = 0;
  while (k < series.t.length && series.t[k] < minT) k++;
  if (k > 0) for (const key of keys) series[key].splice(0, k);
}

// A new connection (or a restarted service) counts time from 0 again: start the view afresh.
function resetView() {
  buckets.clear(); markers.length = 0; latestMs = 0;
  for (const k of Object.keys(model)) model[k].length = 0;
}

function onTrace(chunk) {
  const offset = chunk.series === "model" ? 2 : 0;
  if (offset === 0 && chunk.time_ms.length && chunk.time_ms[0] < latestMs - 1000) resetView();
  for (let i = 0; i < chunk.time_ms.length; i++) {
    const t = chunk.time_ms[i];
    let b = buckets.get(t);
    if (!b) { b = [null, null, null, null]; buckets.set(t, b); }
    b[offset] = chunk.min_mv[i]; b[offset + 1] = chunk.max_mv[i];
    if (offset === 0 && t > latestMs) latestMs = t;
  }
  if (buckets.size > 2 * KEEP_MS) for (const t of buckets.keys()) if (t < latestMs - KEEP_MS) buckets.delete(t);
  while (markers.length && markers[0].onset_ms < latestMs - KEEP_MS) markers.shift();
}

// Buckets from `from` on, in ms of session time: [t, recordedMax, recordedMin, modelMax, modelMin].
function bucketData(from) {
  const times = [...buckets.keys()].filter((t) => t >= from).sort((a, b) => a - b);
  const col = (k) => times.map((t) => buckets.get(t)[k]);
  return [times, col(1), col(0), col(3), col(2)];
}

// The continuous view's x axis is seconds before now (0 at the newest sample): labels stay short however long the
// service has run.
const toViewX = (tMs) => (tMs - viewOrigin) / 1000;

function onModel(m) {
  if (!m || !m.time_ms) return;
  for (let i = 0; i < m.time_ms.length; i++) {
    model.t.push(m.time_ms[i]); model.iNa.push(m.i_na[i]); model.iK.push(m.i_k[i]);
    model.m.push(m.m[i]); model.h.push(m.h[i]); model.n.push(m.n[i]);
  }
  trim(model, ["t", "iNa", "iK", "m", "h", "n"], latestMs - KEEP_MS);
}

// ---- action-potential phases, found on the recorded buckets ----------------------------------------------------
function findPhases(t, lo, hi) {
  const mid = (i) => (lo[i] + hi[i]) / 2;
  let peak = -1;
  for (let i = t.length - 2; i > 0; i--) {
    if (hi[i] != null && hi[i] > 0 && (hi[i + 1] == null || hi[i] >= hi[i + 1]) && hi[i - 1] != null && hi[i] >= hi[i - 1]) { peak = i; break; }
  }
  if (peak < 10 || peak > t.length - 3) return [];
  let thr = peak;
  while (thr > 1 && lo[thr - 1] != null && (mid(thr) - mid(thr - 1)) / Math.max(1e-6, t[thr] - t[thr - 1]) > 10) thr--;
  const restFrom = t[thr] - 8, restTo = t[thr] - 3;
  let restSum = 0, restN = 0;
  for (let i = 0; i < thr; i++) if (t[i] >= restFrom && t[i] <= restTo && lo[i] != null) { restSum += mid(i); restN++; }
  const rest = restN ? restSum / restN : mid(Math.max(0, thr - 3));
  let ahp = peak;
  for (let i = peak; i < t.length && t[i] < t[peak] + 15; i++) if (lo[i] != null && lo[i] < lo[ahp]) ahp = i;
  let back = -1;
  for (let i = ahp; i < t.length && t[i] < t[peak] + 40; i++) if (lo[i] != null && Math.abs(mid(i) - rest) < 1.5) { back = i; break; }
  const upHalf = (() => { let i = thr; while (i < peak && mid(i) < (rest + hi[peak]) / 2) i++; return i; })();
  const downHalf = (() => { let i = peak; while (i < ahp && mid(i) > 0) i++; return i; })();
  const phases = [
    { phase: "rest", t: t[Math.max(0, thr - 4)], v: rest, label: "rest (−: inside negative)" },
    { phase: "threshold", t: t[thr], v: mid(thr), label: "threshold (see the sweep)" },
    { phase: "rising", t: t[upHalf], v: mid(upHalf), label: "rising: Na⁺ in" },
    { phase: "overshoot", t: t[peak], v: hi[peak], label: "overshoot > 0 mV" },
    { phase: "falling", t: t[downHalf], v: mid(downHalf), label: "falling: K⁺ out" },
    { phase: "ahp", t: t[ahp], v: lo[ahp], label: "AHP, refractory" },
  ];
  if (back > 0) phases.push({ phase: "return", t: t[back], v: mid(back), label: "back to rest" });
  return phases;
}

// The threshold marked on the continuous view is the comparison's (measured on every sample), not a guess from the
// 1 ms buckets: placed where the upstroke reaches it, when the comparison's AP is the one in view.
function withMeasuredThreshold(phases, data) {
  const m = window.benchView.metrics, peak = phases.find((p) => p.phase === "overshoot"), thr = phases.find((p) => p.phase === "threshold");
  if (!m || !peak || !thr || m.features_spike_ms == null || Math.abs(m.features_spike_ms - peak.t) > 5) return phases;
  const row = (m.features || []).find((r) => r.name.startsWith("threshold"));
  if (!row || row.recorded == null) return phases;
  const [t, hi] = [data[0], data[1]];
  let i = t.indexOf(peak.t);
  while (i > 0 && hi[i - 1] != null && hi[i - 1] >= row.recorded) i--;
  thr.t = t[Math.max(0, i)]; thr.v = row.recorded; thr.label = `threshold ${row.recorded.toFixed(1)} mV`;
  return phases;
}

// ---- plots ---------------------------------------------------------------------------------------------------
function size(el) { return { width: Math.max(300, el.clientWidth), height: el.classList.contains("small") ? 160 : 340 }; }
const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

// Labels placed one by one, each moved down (then up) until it overlaps none placed before it.
function placeLabels(ctx, items, bounds) {
  const placed = [];
  const lineH = 14 * devicePixelRatio;
  let overlaps = 0;
  for (const it of items) {
    const w = ctx.measureText(it.text).width;
    const x0 = it.align === "right" ? it.x - w : it.x;
    let y = it.y, tries = 0;
    const hits = (yy) => placed.some((p) => x0 < p.x1 && x0 + w > p.x0 && yy - lineH < p.y1 && yy > p.y1 - lineH);
    while (hits(y) && tries < 12) { tries++; y = it.y + (tries % 2 ? 1 : -1) * Math.ceil(tries / 2) * lineH; }
    if (hits(y)) overlaps++;
    y = Math.min(Math.max(y, bounds.top + lineH), bounds.top + bounds.height - 2);
    ctx.textAlign = it.align;
    ctx.fillText(it.text, it.x, y);
    placed.push({ x0, x1: x0 + w, y1: y });
  }
  return overlaps;
}

function drawOverlay(u) {
  const ctx = u.ctx, [x0, x1] = [u.scales.x.min, u.scales.x.max];
  ctx.save();
  ctx.strokeStyle = css("--marker");
  ctx.fillStyle = ctx.strokeStyle;
  ctx.lineWidth = 2 * devicePixelRatio;
  let drawn = 0;
  for (const m of markers) {
    const xv = toViewX(m.onset_ms);
    if (xv < x0 || xv > x1) continue;
    const x = u.valToPos(xv, "x", true);
    ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + 10 * devicePixelRatio); ctx.stroke();
    ctx.globalAlpha = 0.25; ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke(); ctx.globalAlpha = 1;
    drawn++;
  }
  window.benchView.markersDrawn = drawn;
  window.benchView.traceY = [u.scales.y.min, u.scales.y.max];
  // Phase labels on the most recent action potential in view; before the peak on its left, after it on its right,
  // each moved off any label already drawn.
  ctx.font = `${11 * devicePixelRatio}px system-ui`;
  ctx.fillStyle = "#333";
  const items = [];
  for (const p of window.benchView.phases) {
    const xv = toViewX(p.t);
    if (xv < x0 || xv > x1) continue;
    const x = u.valToPos(xv, "x", true), y = u.valToPos(p.v, "y", true);
    ctx.beginPath(); ctx.arc(x, y, 3 * devicePixelRatio, 0, 2 * Math.PI); ctx.fill();
    const left = p.phase === "rising" || p.phase === "threshold" || p.phase === "rest";
    items.push({ text: p.label, x: x + (left ? -6 : 6) * devicePixelRatio, y: y + (p.phase === "ahp" ? 14 : -5) * devicePixelRatio, align: left ? "right" : "left" });
  }
  window.benchView.labelsOverlap = placeLabels(ctx, items, u.bbox);
  ctx.restore();
}

function secondsAxis() {
  return {
    label: "time (s before now)",
    values: (u, splits) => {
      const span = u.scales.x.max - u.scales.x.min;
      const digits = span < 0.05 ? 4 : span < 0.2 ? 3 : span < 2 ? 2 : 1;
      return splits.map((v) => v.toFixed(digits));
    },
  };
}

const scopeEl = $("trace");
const scope = new uPlot({
  ...size(scopeEl),
  scales: { x: { time: false }, y: { range: (u, min, max) => yRange("trace", min, max) } },
  axes: [secondsAxis(), { label: "mV" }],
  series: [
    {},
    { label: "recorded max", stroke: "#1f5fbf", width: 1.5, spanGaps: false },
    { label: "recorded min", stroke: "#1f5fbf", width: 1.5, spanGaps: false },
    { label: "model max", stroke: "#d9480f", width: 1.5, spanGaps: false },
    { label: "model min", stroke: "#d9480f", width: 1.5, spanGaps: false },
  ],
  bands: [{ series: [1, 2], fill: "rgba(31,95,191,0.25)" }, { series: [3, 4], fill: "rgba(217,72,15,0.2)" }],
  legend: { show: false },
  hooks: { draw: [drawOverlay] },
}, [[], [], [], [], []], scopeEl);

const currentsEl = $("currents"), gatesEl = $("gates");
const currents = new uPlot({ ...size(currentsEl), scales: { x: { time: false } }, axes: [{}, { label: "µA/cm²" }],
  series: [{}, { label: "INa (Na⁺ in)", stroke: "#d9480f" }, { label: "IK (K⁺ out)", stroke: "#5f3dc4" }] }, [[], [], []], currentsEl);
const gates = new uPlot({ ...size(gatesEl), scales: { x: { time: false }, y: { range: [0, 1] } }, axes: [secondsAxis(), { label: "gate" }],
  series: [{}, { label: "m (Na⁺ activation)", stroke: "#e8590c" }, { label: "h (Na⁺ inactivation)", stroke: "#2b8a3e" }, { label: "n (K⁺ activation)", stroke: "#5f3dc4" }] },
  [[], [], [], []], gatesEl);

function modelFrom(from) {
  let k = 0;
  while (k < model.t.length && model.t[k] < from) k++;
  return ["t", "iNa", "iK", "m", "h", "n"].map((key) => model[key].slice(k));
}

function showContinuous(data, from, to) {
  const x = data[0].map(toViewX);
  scope.batch(() => { scope.setData([x, data[1], data[2], data[3], data[4]], true); scope.setScale("x", { min: toViewX(from), max: toViewX(to) }); });
  const md = modelFrom(from);
  const mx = md[0].map(toViewX);
  currents.setData([mx, md[1], md[2]]);
  gates.setData([mx, md[3], md[4], md[5]]);
  for (const u of [currents, gates]) u.setScale("x", { min: toViewX(from), max: toViewX(to) });
  window.benchView.traceX = [toViewX(from), toViewX(to)];
}

function render() {
  if (!frozen && buckets.size) {
    viewOrigin = latestMs;
    const data = bucketData(latestMs - windowMs);
    window.benchView.tracePoints = data[1].filter((v) => v != null).length;
    window.benchView.modelPoints = data[3].filter((v) => v != null).length;
    window.benchView.phases = withMeasuredThreshold(findPhases(data[0], data[2], data[1]), data);
    for (const li of document.querySelectorAll("#phase-list li")) li.classList.toggle("seen", window.benchView.phases.some((p) => p.phase === li.dataset.phase));
    showContinuous(data, latestMs - windowMs, latestMs);
    window.benchView.draws++;
  }
  if (sweepDirty) drawSweeps();
  requestAnimationFrame(render);
}

$("window-select").addEventListener("change", (e) => { windowMs = Number(e.target.value); });
// Freezing holds the view on the newest action potential of the last seconds, zoomed so that its phases can be read;
// with none to hold, it says so instead of freezing a flat line.
$("freeze").addEventListener("change", (e) => {
  $("freeze-note").textContent = "";
  if (!e.target.checked) { frozen = false; return; }
  viewOrigin = latestMs;
  const data = bucketData(latestMs - KEEP_MS);
  const phases = findPhases(data[0], data[2], data[1]);
  const thr = phases.find((x) => x.phase === "threshold"), peak = phases.find((x) => x.phase === "overshoot");
  if (!thr || !peak) {
    e.target.checked = false;
    $("freeze-note").textContent = `no action potential in the last ${KEEP_MS / 1000} s to freeze on: play a stimulus above threshold first`;
    return;
  }
  frozen = true;
  window.benchView.phases = withMeasuredThreshold(phases, data);
  showContinuous(data, thr.t - 8, peak.t + 30);
});

// ---- the triggered sweeps ------------------------------------------------------------------------------------
const sweeps = [];           // newest last, each as the service sent it plus its times and its AP's threshold
let sweepDirty = false, sweepPlot = null, sweepShape = "", thresholdDrawn = null;
const cursors = { a: null, b: null, next: "a" };
const sweepEl = $("sweep");

function finiteMax(a) { let m = -Infinity; for (const v of a) if (v != null && v > m) m = v; return m === -Infinity ? null : m; }
function finiteMin(a) { let m = Infinity; for (const v of a) if (v != null && v < m) m = v; return m === Infinity ? null : m; }

function onSweep(s) {
  const n = s.recorded_mv.length;
  s.t = new Array(n);
  for (let i = 0; i < n; i++) s.t[i] = Math.round((s.first_index + i - s.onset_index) * s.dt_ms * 1e4) / 1e4;
  s.threshold = null;
  s.maxRecorded = finiteMax(s.recorded_mv);
  s.maxModel = s.model_mv ? finiteMax(s.model_mv) : null;
  s.id = ++window.benchView.sweepsReceived;
  sweeps.push(s);
  while (sweeps.length > 10) sweeps.shift();
  matchThreshold(window.benchView.metrics);
  sweepDirty = true;
}

// The comparison measures each AP's features from every sample, a little after the AP; its threshold is drawn on the
// sweep that holds that AP.
function matchThreshold(m) {
  if (!m || m.features_spike_ms == null || !m.features) return;
  const row = m.features.find((r) => r.name.startsWith("threshold"));
  if (!row) return;
  for (let i = sweeps.length - 1; i >= 0; i--) {
    const s = sweeps[i];
    if (m.features_spike_ms >= s.onset_ms - s.pre_ms && m.features_spike_ms <= s.onset_ms + s.post_ms) {
      if (!s.threshold || s.threshold.spike_ms !== m.features_spike_ms || s.threshold.recorded !== row.recorded) {
        s.threshold = { recorded: row.recorded, model: row.model, spike_ms: m.features_spike_ms };
        sweepDirty = true;
      }
      return;
    }
  }
}

function shownSweeps() {
  if (!sweeps.length) return [];
  const newest = sweeps[sweeps.length - 1];
  const count = Number($("sweep-overlay").value);
  // Only sweeps cut with the newest one's window share its time axis.
  return sweeps.filter((s) => s.t.length === newest.t.length && s.t[0] === newest.t[0]).slice(-count);
}

function drawSweepOverlay(u) {
  const shown = shownSweeps();
  if (!shown.length) return;
  const newest = shown[shown.length - 1];
  const ctx = u.ctx, dpr = devicePixelRatio, b = u.bbox;
  ctx.save();
  // The stimulus: each pulse's phases as bars along the bottom.
  ctx.fillStyle = css("--marker");
  for (const p of newest.pulses) {
    const phases = [[p.t_ms, p.phase1_ms, p.phase1_nA], [p.t_ms + p.phase1_ms, p.phase2_ms, p.phase2_nA]];
    for (const [from, len, nA] of phases) {
      if (!len) continue;
      const xa = u.valToPos(from, "x", true), xb = u.valToPos(from + len, "x", true);
      const h = (nA >= 0 ? 8 : 4) * dpr;
      ctx.globalAlpha = 0.8;
      ctx.fillRect(xa, b.top + b.height - h, Math.max(dpr, xb - xa), h);
    }
  }
  ctx.globalAlpha = 1;
  ctx.font = `${11 * dpr}px system-ui`;
  // The threshold: the one value the comparison measured for this AP (rig solid, model dotted).
  const th = newest.threshold;
  thresholdDrawn = null;
  if (th && th.recorded != null) {
    const y = u.valToPos(th.recorded, "y", true);
    ctx.strokeStyle = css("--threshold"); ctx.lineWidth = 1.5 * dpr; ctx.setLineDash([6 * dpr, 4 * dpr]);
    ctx.beginPath(); ctx.moveTo(b.left, y); ctx.lineTo(b.left + b.width, y); ctx.stroke();
    ctx.fillStyle = css("--threshold"); ctx.textAlign = "right";
    ctx.fillText(`threshold ${th.recorded.toFixed(1)} mV (rig)`, b.left + b.width - 4 * dpr, y - 4 * dpr);
    thresholdDrawn = th.recorded;
    if (th.model != null && $("sweep-model").checked) {
      const ym = u.valToPos(th.model, "y", true);
      ctx.strokeStyle = css("--model"); ctx.setLineDash([2 * dpr, 3 * dpr]);
      ctx.beginPath(); ctx.moveTo(b.left, ym); ctx.lineTo(b.left + b.width, ym); ctx.stroke();
      ctx.fillStyle = css("--model"); ctx.textAlign = "left";
      ctx.fillText(`${th.model.toFixed(1)} mV (model)`, b.left + 4 * dpr, ym + (ym > y ? 12 : -4) * dpr);
    }
    ctx.setLineDash([]);
  }
  // uPlot draws after the data is set (in a microtask): what is drawn is recorded here.
  if (window.benchView.sweep) Object.assign(window.benchView.sweep, { thresholdDrawn, yRange: [u.scales.y.min, u.scales.y.max] });
  // The cursors.
  for (const [name, t] of [["A", cursors.a], ["B", cursors.b]]) {
    if (t == null) continue;
    const x = u.valToPos(t, "x", true);
    ctx.strokeStyle = "#222"; ctx.lineWidth = dpr; ctx.setLineDash([3 * dpr, 3 * dpr]);
    ctx.beginPath(); ctx.moveTo(x, b.top); ctx.lineTo(x, b.top + b.height); ctx.stroke();
    ctx.setLineDash([]); ctx.fillStyle = "#222"; ctx.textAlign = "left";
    ctx.fillText(name, x + 3 * dpr, b.top + 12 * dpr);
  }
  ctx.restore();
}

function sweepYRange() {
  const s = shownSweeps().at(-1);
  if (!s) return yRange("sweep", null, null);
  const withModel = $("sweep-model").checked && s.model_mv;
  const lo = Math.min(finiteMin(s.recorded_mv) ?? Infinity, withModel ? finiteMin(s.model_mv) ?? Infinity : Infinity);
  const hi = Math.max(s.maxRecorded ?? -Infinity, withModel ? s.maxModel ?? -Infinity : -Infinity);
  return yRange("sweep", Number.isFinite(lo) ? lo : null, Number.isFinite(hi) ? hi : null);
}

function drawSweeps() {
  sweepDirty = false;
  const shown = shownSweeps();
  const showModel = $("sweep-model").checked;
  if (!shown.length) {
    if (sweepPlot) { sweepPlot.destroy(); sweepPlot = null; sweepShape = ""; }
    window.benchView.sweep = null;
    return;
  }
  const newest = shown[shown.length - 1];
  const data = [newest.t];
  const series = [{}];
  shown.forEach((s, i) => {
    // Older sweeps fade; the newest is drawn last, on top.
    const alpha = shown.length === 1 ? 1 : 0.15 + (0.85 * i) / (shown.length - 1);
    const width = s === newest ? 1.6 : 1;
    if (showModel && s.model_mv) { data.push(s.model_mv); series.push({ label: `model ${s.id}`, stroke: `rgba(217,72,15,${alpha})`, width, spanGaps: false }); }
    data.push(s.recorded_mv); series.push({ label: `rig ${s.id}`, stroke: `rgba(31,95,191,${alpha})`, width, spanGaps: false });
  });
  const shape = series.map((s) => s.label).join() + "|" + newest.t.length;
  if (!sweepPlot || shape !== sweepShape) {
    if (sweepPlot) sweepPlot.destroy();
    sweepPlot = new uPlot({
      ...size(sweepEl),
      // Auto y fits the newest sweep (rig, and model when shown): a few mV below threshold fill the plot even with
      // older APs overlaid (they are clipped).
      scales: { x: { time: false, range: () => [newest.t[0], newest.t[newest.t.length - 1]] }, y: { range: () => sweepYRange() } },
      axes: [{ label: "time from the stimulus onset (ms)" }, { label: "mV" }],
      series, legend: { show: false }, cursor: { drag: { x: false, y: false } },
      hooks: { draw: [drawSweepOverlay] },
    }, data, sweepEl);
    sweepShape = shape;
    sweepPlot.over.addEventListener("click", (e) => {
      const t = sweepPlot.posToVal(e.offsetX, "x");
      cursors[cursors.next] = t; cursors.next = cursors.next === "a" ? "b" : "a";
      readCursors(); sweepPlot.redraw(false);
    });
  } else {
    sweepPlot.setData(data, true);
  }
  const spanMs = newest.t[newest.t.length - 1] - newest.t[0];
  window.benchView.sweep = {
    shown: shown.length, id: newest.id, onsetMs: newest.onset_ms, preMs: newest.pre_ms, postMs: newest.post_ms, pulses: newest.pulses, points: newest.t.length, spanMs,
    pointsPerMs: newest.t.length / (newest.pre_ms + newest.post_ms), dtMs: newest.dt_ms,
    maxRecorded: newest.maxRecorded, minRecorded: finiteMin(newest.recorded_mv), maxModel: newest.maxModel,
    threshold: newest.threshold ? newest.threshold.recorded : null,
  };
  sweepPlot.redraw(false);
  // Read after the draw: what the plot now shows.
  Object.assign(window.benchView.sweep, { thresholdDrawn, yRange: [sweepPlot.scales.y.min, sweepPlot.scales.y.max] });
  readCursors();
}

// The newest sweep's value at time t (the nearest sample).
function valueAt(values, t) {
  const s = shownSweeps().at(-1);
  if (!s || !values) return null;
  const i = Math.round((t - s.t[0]) / s.dt_ms);
  return i >= 0 && i < values.length ? values[i] : null;
}

function readCursors() {
  const s = shownSweeps().at(-1);
  if (!s || cursors.a == null) { window.benchView.cursors = null; return; }
  const f = (v, d = 2) => v == null ? "—" : v.toFixed(d);
  const a = { t: cursors.a, v: valueAt(s.recorded_mv, cursors.a), m: valueAt(s.model_mv, cursors.a) };
  let text = `A: ${f(a.t)} ms, ${f(a.v, 1)} mV`;
  const result = { a };
  if (cursors.b != null) {
    const b = { t: cursors.b, v: valueAt(s.recorded_mv, cursors.b), m: valueAt(s.model_mv, cursors.b) };
    const dt = b.t - a.t, dv = a.v != null && b.v != null ? b.v - a.v : null, dm = a.m != null && b.m != null ? b.m - a.m : null;
    text += ` · B: ${f(b.t)} ms, ${f(b.v, 1)} mV · Δt = ${f(dt)} ms · ΔV = ${f(dv, 1)} mV (rig)` + (dm != null ? `, ${f(dm, 1)} mV (model)` : "");
    Object.assign(result, { b, dtMs: dt, dvMv: dv, dvModelMv: dm });
  }
  $("sweep-readout").textContent = text + "  (click to move " + cursors.next.toUpperCase() + ")";
  window.benchView.cursors = result;
}

async function setSweepWindow() {
  const pre = Number($("sweep-pre").value), post = Number($("sweep-post").value);
  try {
    await api("PUT", "/api/sweep", { pre_ms: pre, post_ms: post });
    $("sweep-readout").classList.remove("error");
    $("sweep-readout").textContent = `the next sweep shows −${pre} … +${post} ms around its stimulus`;
  } catch (e) { $("sweep-readout").classList.add("error"); $("sweep-readout").textContent = e.message; }
}
$("sweep-pre").addEventListener("change", setSweepWindow);
$("sweep-post").addEventListener("change", setSweepWindow);
for (const id of ["sweep-overlay", "sweep-model"]) $(id).addEventListener("change", () => { sweepDirty = true; });
$("sweep-clear").addEventListener("click", () => { sweeps.length = 0; cursors.a = cursors.b = null; cursors.next = "a"; sweepDirty = true; });
for (const el of document.querySelectorAll(".yrange")) {
  el.addEventListener("change", () => {
    if (el.dataset.plot === "sweep") { if (sweepPlot) { sweepPlot.setData(sweepPlot.data, true); sweepDirty = true; } }
    else scope.setData(scope.data, true);
  });
}
api("GET", "/api/sweep").then((w) => { $("sweep-pre").value = w.pre_ms; $("sweep-post").value = w.post_ms; }, () => {});

requestAnimationFrame(render);
window.addEventListener("resize", () => {
  for (const [u, el] of [[scope, scopeEl], [currents, currentsEl], [gates, gatesEl], [sweepPlot, sweepEl]]) if (u) u.setSize(size(el));
});

// ---- the stimulus controls: one train, checked against the rig's limits as it is typed -------------------------
let limits = null;
const stimFields = ["stim-amplitude", "stim-duration", "stim-count", "stim-interval"];
const onGrid = (ms, period) => Math.abs(ms / period - Math.round(ms / period)) < 1e-6 * Math.max(1, ms / period);

async function loadLimits() {
  try {
    limits = await api("GET", "/api/stimulus/limits");
  } catch (e) {
    limits = null;
    $("stim-limits").textContent = "no rig limits (" + e.message + ")";
    return;
  }
  const charge = limits.max_charge_nA_ms != null ? `, at most ${limits.max_charge_nA_ms} nA·ms (pC) per phase` : "";
  const sign = limits.bipolar === false ? `0 or ${limits.max_amplitude_nA} nA (an on/off pin: no negative pulses)` : `±${limits.max_amplitude_nA} nA in steps of ${limits.amplitude_step_nA} nA`;
  const shortest = limits.min_phase_ms > limits.sample_period_ms ? limits.min_phase_ms : limits.sample_period_ms;
  $("stim-limits").textContent = `This rig: ${sign}; phases ${shortest} … ${limits.max_phase_ms} ms ` +
    `in steps of ${limits.sample_period_ms} ms${charge}; up to ${limits.max_pulses} pulses.` + (limits.timing ? ` Timing: ${limits.timing}.` : "");
  const amp = $("stim-amplitude"), range = $("stim-amplitude-range");
  amp.min = -limits.max_amplitude_nA; amp.max = limits.max_amplitude_nA; amp.step = limits.amplitude_step_nA;
  range.max = Math.min(limits.max_amplitude_nA, 1000); range.step = limits.amplitude_step_nA;
  for (const id of ["stim-duration", "stim-interval"]) { $(id).step = limits.sample_period_ms; $(id).min = limits.sample_period_ms; }
  $("stim-duration").max = limits.max_phase_ms;
  $("stim-count").max = limits.max_pulses;
  checkStimulus();
loadPracticals().catch(practicalError);
}

function readStimulus() {
  return {
    amplitude: Number($("stim-amplitude").value), duration: Number($("stim-duration").value),
    count: Number($("stim-count").value), interval: Number($("stim-interval").value),
  };
}

// Each field's problem, or null: what the rig would refuse, said with its limit.
function stimulusProblems() {
  const s = readStimulus(), p = {};
  if ($("stim-amplitude").value.trim() === "" || !Number.isFinite(s.amplitude)) p["stim-amplitude"] = "amplitude: give a number of nA";
  if ($("stim-duration").value.trim() === "" || !(s.duration > 0)) p["stim-duration"] = "phase duration: give a number of ms above 0";
  if (!Number.isInteger(s.count) || s.count < 1) p["stim-count"] = "pulses: a whole number, at least 1";
  if (s.count > 1 && !(s.interval > 0)) p["stim-interval"] = "interval: give a number of ms above 0";
  if (limits) {
    const max = limits.max_amplitude_nA, step = limits.amplitude_step_nA, period = limits.sample_period_ms;
    if (!p["stim-amplitude"] && Math.abs(s.amplitude) > max) p["stim-amplitude"] = `amplitude: ${s.amplitude} nA is beyond this rig's limit of ±${max} nA`;
    else if (!p["stim-amplitude"] && Number.isInteger(step) && !onGrid(s.amplitude, step)) p["stim-amplitude"] = `amplitude: the rig plays whole steps of ${step} nA`;
    if (!p["stim-duration"] && s.duration > limits.max_phase_ms) p["stim-duration"] = `phase duration: ${s.duration} ms is beyond this rig's longest phase, ${limits.max_phase_ms} ms`;
    else if (!p["stim-duration"] && !onGrid(s.duration, period)) p["stim-duration"] = `phase duration: a whole number of the rig's ${period} ms sample periods`;
    else if (!p["stim-duration"] && !p["stim-amplitude"] && limits.max_charge_nA_ms != null && Math.abs(s.amplitude) * s.duration > limits.max_charge_nA_ms * (1 + 1e-9)) {
      p["stim-amplitude"] = `charge: ${Math.abs(s.amplitude) * s.duration} nA·ms per phase is beyond this rig's ${limits.max_charge_nA_ms} nA·ms: lower the amplitude or shorten the phase`;
    }
    if (!p["stim-amplitude"] && limits.bipolar === false && s.amplitude < 0) p["stim-amplitude"] = `amplitude: this rig's pin only switches a current on (0 or ${max} nA), it cannot reverse it`;
    if (!p["stim-duration"] && limits.min_phase_ms > period && s.duration < limits.min_phase_ms) p["stim-duration"] = `phase duration: ${s.duration} ms is shorter than the ${limits.min_phase_ms} ms this rig's host-timed pulses need`;
    if (s.count > 1 && !p["stim-interval"] && limits.min_phase_ms > period && s.interval - s.duration < limits.min_phase_ms) {
      p["stim-interval"] = `interval: the gap between pulses must be at least ${limits.min_phase_ms} ms on this rig`;
    }
    if (!p["stim-count"] && s.count > limits.max_pulses) p["stim-count"] = `pulses: at most ${limits.max_pulses} in a train`;
    if (s.count > 1 && !p["stim-interval"]) {
      if (!onGrid(s.interval, period)) p["stim-interval"] = `interval: a whole number of the rig's ${period} ms sample periods`;
      else if (s.interval < s.duration) p["stim-interval"] = `interval: ${s.interval} ms is shorter than the pulse (${s.duration} ms): the pulses would overlap`;
    }
  }
  return p;
}

function checkStimulus() {
  const p = stimulusProblems();
  for (const id of stimFields) $(id).setAttribute("aria-invalid", p[id] ? "true" : "false");
  const messages = Object.values(p);
  $("stim-error").textContent = messages.join("; ");
  window.benchView.stimulusError = messages.length ? messages.join("; ") : null;
  $("stim-play").disabled = messages.length > 0 || !connected || practicalStep != null;
  $("stim-interval").disabled = readStimulus().count <= 1;
  return messages.length === 0;
}

function stimulusProtocol() {
  const s = readStimulus();
  const train = { phase1_ms: s.duration, phase1_amplitude: s.amplitude, count: s.count };
  if (s.count > 1) train.interval_ms = s.interval;
  return { name: "custom", unit: "nA", trains: [train] };
}

let lastChangePlay = { json: "", at: -1e9 };
function playStimulus(origin) {
  if (!checkStimulus()) return Promise.resolve();
  const s = readStimulus();
  // Leaving a field by clicking "Play" takes its value (a change, which plays) and then clicks: one stimulus, not two.
  const json = JSON.stringify(stimulusProtocol());
  if (origin === "click" && json === lastChangePlay.json && performance.now() - lastChangePlay.at < 300) return Promise.resolve();
  if (origin === "change") lastChangePlay = { json, at: performance.now() };
  return report($("play-result"), api("POST", "/api/stimulus/play", { protocol: stimulusProtocol() }),
    (r) => { window.benchView.played++; return `playing ${s.count} × ${s.duration} ms at ${s.amplitude} nA (${r.pulses} pulse(s), ${fmt(r.duration_ms, 2)} ms)`; }).catch(() => {});
}

const committed = {};
for (const id of stimFields) {
  committed[id] = $(id).value;
  $(id).addEventListener("input", () => {
    if (id === "stim-amplitude" && Number.isFinite(Number($(id).value))) $("stim-amplitude-range").value = $(id).value;
    checkStimulus();
loadPracticals().catch(practicalError);
  });
  // A value is taken when the field is left with a new value, or at Enter (which plays even an unchanged one: "again"),
  // not at every keystroke of "200".
  $(id).addEventListener("change", () => {
    if (committed[id] === $(id).value) return;
    committed[id] = $(id).value;
    if ($("stim-autoplay").checked && checkStimulus()) playStimulus("change");
  });
  $(id).addEventListener("keydown", (e) => {
    if (e.key !== "Enter") return;
    committed[id] = $(id).value;
    if ($("stim-autoplay").checked && checkStimulus()) playStimulus();
  });
}
$("stim-amplitude-range").addEventListener("input", (e) => { $("stim-amplitude").value = e.target.value; checkStimulus(); });
$("stim-amplitude-range").addEventListener("change", () => { if ($("stim-autoplay").checked && checkStimulus()) playStimulus(); });
$("stim-play").addEventListener("click", () => playStimulus("click"));
$("stim-save").addEventListener("click", () => {
  if (!checkStimulus()) return;
  const name = $("stim-save-name").value.trim();
  const body = { ...stimulusProtocol(), name, description: $("stim-save-description").value.trim() || undefined };
  report($("play-result"), api("PUT", "/api/protocols/" + encodeURIComponent(name), body), (r) => `saved '${r.name}': ${r.description}`)
    .then(() => loadProtocols(name), () => {});
});

// ---- model and preparation parameters ---------------------------------------------------------------------------
const SHOWN_PARAMETERS = ["gNa", "gK", "gL", "celsius"];
const params = { model: null, emulator: null };

async function loadParameters() {
  const [m, e] = await Promise.all([api("GET", "/api/model/parameters").catch(() => null), api("GET", "/api/emulator/parameters").catch(() => null)]);
  params.model = m; params.emulator = e;
  const names = SHOWN_PARAMETERS.filter((n) => [m, e].some((x) => x && x.parameters.some((p) => p.name === n)));
  const cell = (set, target, name) => {
    const p = set && set.parameters.find((x) => x.name === name);
    if (!p) return "<td>—</td>";
    const range = `${p.min ?? "−∞"} … ${p.max ?? "∞"} ${p.unit}`;
    return `<td><input type="number" id="param-${target}-${name}" data-target="${target}" data-name="${name}" value="${p.value}" step="any"` +
      `${p.min != null ? ` min="${p.min}"` : ""}${p.max != null ? ` max="${p.max}"` : ""} title="${p.description}: ${range} (default ${p.default_value})"></td>`;
  };
  const describe = (name) => { const p = (m || e).parameters.find((x) => x.name === name); return `${name} <small>${p.unit}</small>`; };
  $("param-table").querySelector("tbody").innerHTML = names.map((n) =>
    `<tr><th title="${(m || e).parameters.find((x) => x.name === n).description}">${describe(n)}</th>${cell(m, "model", n)}${cell(e, "emulator", n)}</tr>`).join("");
  $("apply-model").disabled = !m; $("apply-emulator").disabled = !e;
}

function parameterProblems(target) {
  const problems = [];
  for (const input of document.querySelectorAll(`#param-table input[data-target="${target}"]`)) {
    const v = Number(input.value), lo = input.min === "" ? -Infinity : Number(input.min), hi = input.max === "" ? Infinity : Number(input.max);
    const bad = input.value.trim() === "" || !Number.isFinite(v) || v < lo || v > hi;
    input.setAttribute("aria-invalid", bad ? "true" : "false");
    if (bad) problems.push(`${input.dataset.name}: ${input.title.split(": ").pop()}`);
  }
  return problems;
}

// The overrides: those already set that the table does not show, and every shown value away from its default.
function overridesOf(target) {
  const set = params[target], o = { ...set.overrides };
  for (const input of document.querySelectorAll(`#param-table input[data-target="${target}"]`)) {
    const p = set.parameters.find((x) => x.name === input.dataset.name), v = Number(input.value);
    if (v === p.default_value) delete o[p.name]; else o[p.name] = v;
  }
  return o;
}

async function applyParameters(target) {
  const problems = parameterProblems(target);
  if (problems.length) { $("param-result").classList.add("error"); $("param-result").textContent = problems.join("; "); throw new Error(problems.join("; ")); }
  const r = await report($("param-result"), api("PUT", `/api/${target}/parameters`, overridesOf(target)),
    (x) => `${target === "model" ? "model" : "preparation"}: ${Object.entries(x.overrides).map(([k, v]) => `${k} = ${v}`).join(", ") || "every default"} — ${x.note}`);
  params[target] = r;
  window.benchView.parametersApplied = (window.benchView.parametersApplied || 0) + 1;
  if (target === "emulator") loadLimits();
  return r;
}

$("apply-model").addEventListener("click", () => applyParameters("model").catch(() => {}));
$("apply-emulator").addEventListener("click", () => applyParameters("emulator").catch(() => {}));
$("param-table").addEventListener("input", (e) => { if (e.target.dataset.target) parameterProblems(e.target.dataset.target); });

const PRESETS = {
  ttx: (p) => (p.name === "gNa" ? 0 : undefined),
  tea: (p) => (p.name === "gK" ? Math.round(p.default_value * 0.1 * 1000) / 1000 : undefined),
  cool: (p) => (p.name === "celsius" ? 0 : undefined),
  warm: (p) => (p.name === "celsius" ? 20 : undefined),
  reset: (p) => p.default_value,
};
document.querySelector(".presets").addEventListener("click", async (e) => {
  const preset = e.target.dataset && e.target.dataset.preset;
  if (!preset) return;
  const which = $("preset-target").value, targets = which === "both" ? ["model", "emulator"] : [which];
  for (const target of targets) {
    const set = params[target];
    if (!set) continue;
    for (const input of document.querySelectorAll(`#param-table input[data-target="${target}"]`)) {
      const v = PRESETS[preset](set.parameters.find((x) => x.name === input.dataset.name));
      if (v !== undefined) input.value = v;
    }
    try { await applyParameters(target); } catch { return; }
  }
});

// ---- panels --------------------------------------------------------------------------------------------------
const fmt = (v, digits = 2) => v == null || Number.isNaN(v) ? "—" : (typeof v === "number" ? v.toFixed(digits) : String(v));
const info = (text) => ` <abbr class="info" title="${text}" tabindex="0" aria-label="${text}">i</abbr>`;
function fillTable(el, rows) { el.querySelector("tbody").innerHTML = rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join("")}</tr>`).join(""); }

let connectedTo = null, connected = false, practicalStep = null;
function onStatus(s) {
  if (s.state === "connected" && connectedTo !== null && s.address !== connectedTo) resetView();
  const wasConnected = connected;
  connected = s.state === "connected";
  if (connected) connectedTo = s.address;
  const el = $("status");
  el.dataset.state = s.state;
  el.textContent = s.state === "connected"
    ? `${s.device.board} ${s.device.unique_id} on ${s.address} — ${s.sample_rate_hz} Hz${s.recording ? " — recording " + s.recording.name : ""}${s.device.timing ? " — " + s.device.timing : ""}`
    : s.state === "lost" ? `rig lost: ${s.error || "connection dropped"} — the service keeps running; reconnect it` : `no rig connected${s.error ? ": " + s.error : ""}`;
  $("record-state").textContent = s.recording ? `recording '${s.recording.name}'…` : "";
  // While a practical's step runs its trials, the page's own stimuli and recordings wait (they would fall into them).
  if (s.practical) el.textContent += ` — ${s.practical} running`;
  $("record").disabled = !!s.recording || !connected || !!s.practical;
  $("stop-record").disabled = !s.recording;
  $("play").disabled = !connected || !!s.practical;
  practicalStep = s.practical || null;
  if (connected && !wasConnected) loadLimits();
  checkStimulus();
loadPracticals().catch(practicalError);
}

function onHealth(h) {
  fillTable($("health"), [
    ["samples received", h.samples_received], ["gaps", h.gaps], ["samples lost", h.lost_samples],
    ["CRC errors", h.crc_errors], ["framing errors", h.framing_errors], ["frames lost", h.frames_lost],
    ["device overruns", h.device_overruns], ["clock drift (ppm)", fmt(h.drift_ppm, 1)],
  ]);
}

const FEATURE_INFO = {
  threshold: "the potential where the AP takes off (definition below)",
  peak: "the highest potential of the AP",
  amplitude: "peak − threshold",
  "half-width": "how long the AP stays above halfway between threshold and peak",
  AHP: "the lowest potential after the peak: the after-hyperpolarisation",
};

function onMetrics(m) {
  if (!m) return;
  window.benchView.metrics = m;
  fillTable($("metrics"), [
    ["RMSE (last 0.5 s)" + info("Root-mean-square difference between rig and model over the last 0.5 s: how far apart the two traces are on average, in mV. 0 = identical."), fmt(m.window_rmse_mv) + " mV"],
    ["correlation r (last 0.5 s)" + info("Pearson's r between rig and model over the last 0.5 s: +1 = the same shape, 0 = unrelated. Undefined (—) at rest: flat traces have no shape to compare."), fmt(m.window_correlation, 3)],
    ["RMSE (all)" + info("The same root-mean-square difference over everything since the model started."), fmt(m.rmse_mv) + " mV"],
    ["spikes rig / model" + info("Action potentials counted on each trace (upward crossings of 0 mV)."), `${m.spikes_recorded} / ${m.spikes_model}`],
    ["coincidence Γ" + info("Coincidence factor: how many of the model's spikes fall within ±2 ms of the rig's, corrected for chance. 1 = every spike matched, 0 = no better than chance; — before any spike."), fmt(m.gamma, 3)],
    ["spike timing error" + info("Mean time difference between matched spikes of the model and the rig, in ms; — before any pair."), fmt(m.mean_spike_time_error_ms) + " ms"],
    ["Victor–Purpura distance" + info("What it costs to turn the rig's spike train into the model's: 1 per spike added or removed, 0.5 per ms a spike is moved. 0 = identical trains."), fmt(m.victor_purpura)],
  ]);
  const f = m.features || [];
  const body = $("features").querySelector("tbody");
  body.innerHTML = f.map((r) => {
    const key = Object.keys(FEATURE_INFO).find((k) => r.name.startsWith(k));
    // A difference within the noise (twice its noise-based uncertainty) is no difference: shown grey, said so.
    const within = r.difference != null && r.beyond_noise === false;
    const diff = fmt(r.difference) + (r.uncertainty != null ? ` ± ${fmt(r.uncertainty)}` : "");
    return `<tr><td>${r.name}${key ? info(FEATURE_INFO[key]) : ""}</td><td>${fmt(r.recorded)}</td><td>${fmt(r.model)}</td>` +
      `<td class="${within ? "within-noise" : ""}" title="${within ? "within the recording's noise: not a difference" : r.difference != null ? "beyond the recording's noise" : ""}">${diff}</td></tr>`;
  }).join("");
  body.classList.toggle("stale", !!m.features_stale);
  const stamp = $("features-stamp");
  stamp.classList.toggle("stale", !!m.features_stale);
  stamp.textContent = !f.length ? "No action potential measured yet: play a stimulus above threshold."
    : `The AP at ${fmt(m.features_spike_ms / 1000, 3)} s (its 0 mV crossing)` +
      (m.features_stale ? ` — not the latest response: the pulse at ${fmt(m.last_pulse_ms / 1000, 3)} s evoked no AP.` : ".");
  const definition = (m.threshold_definition || THRESHOLD_DEFINITION).replace(/\.\s*$/, "");
  $("features-definition").textContent = definition;
  $("threshold-definition").textContent = definition + ". The dashed line marks it on the sweep.";
  const lower = definition.replace(/^Threshold:\s*/, "");
  $("phase-threshold-text").textContent = `${lower}. Stimulus current up to there only charges the membrane; beyond it the Na⁺ current carries the cell on by itself.`;
  matchThreshold(m);
}

async function loadDevices() {
  try {
    const d = await api("GET", "/api/devices");
    $("device-select").innerHTML = d.devices.map((x) => `<option value="${x.port}">${x.port} — ${x.status === "rig" ? x.board : x.status}</option>`).join("");
    if (d.connected) $("device-select").value = d.connected;
  } catch (e) { $("status").textContent = "cannot list devices: " + e.message; }
}

let protocolList = [];
function describeProtocol() { const p = protocolList.find((x) => x.name === $("protocol-select").value); $("protocol-description").textContent = p ? p.description : ""; }
async function loadProtocols(select) {
  protocolList = await api("GET", "/api/protocols");
  $("protocol-select").innerHTML = protocolList.map((p) => `<option value="${p.name}">${p.name}${p.built_in ? "" : " (saved)"}</option>`).join("");
  if (select) $("protocol-select").value = select;
  describeProtocol();
}
$("protocol-select").addEventListener("change", describeProtocol);

async function loadRecordings() {
  const list = await api("GET", "/api/recordings");
  $("recordings").innerHTML = list.map((r) =>
    `<li>${r.name}: <a href="${withToken("/api/recordings/" + encodeURIComponent(r.name) + "/download")}" download title="the NWB file: bench export, compare and fit read it">NWB</a> ` +
    `<a href="${withToken("/api/recordings/" + encodeURIComponent(r.name) + "/download?format=csv")}" download title="time, membrane potential, stimulus and model, one row per sample">CSV</a> ` +
    `${fmt(r.duration_s, 1)} s, ${r.samples} samples${r.lost_samples ? ", " + r.lost_samples + " lost" : ""} (${r.status}) ` +
    `<button data-delete="${r.name}" title="delete">✕</button></li>`).join("");
}

function report(el, promise, ok) {
  el.classList.remove("error");
  return promise.then((r) => { el.textContent = ok(r); return r; }, (e) => { el.classList.add("error"); el.textContent = e.message; throw e; });
}

$("play").addEventListener("click", () => report($("play-result"), api("POST", "/api/stimulus/play", { name: $("protocol-select").value }),
  (r) => `playing: ${r.pulses} pulse(s) over ${fmt(r.duration_ms, 1)} ms`).catch(() => {}));
$("stop-all").addEventListener("click", () => report($("play-result"), api("POST", "/api/stimulus/stop-all"), () => "all stimulation stopped").catch(() => {}));
$("record").addEventListener("click", () => report($("record-state"), api("POST", "/api/recordings", { name: $("record-name").value || null }),
  (r) => `recording '${r.name}'…`).catch(() => {}));
$("stop-record").addEventListener("click", () => report($("record-state"), api("POST", "/api/recordings/stop"),
  (r) => `saved '${r.name}': ${fmt(r.duration_s, 1)} s`).then(loadRecordings, () => {}));
$("recordings").addEventListener("click", (e) => {
  const name = e.target.dataset && e.target.dataset.delete;
  if (name && confirm(`Delete recording '${name}'?`)) api("DELETE", "/api/recordings/" + encodeURIComponent(name)).then(loadRecordings, (err) => alert(err.message));
});
$("connect").addEventListener("click", () => report($("play-result"), api("POST", "/api/devices/connect", { address: $("device-select").value }), () => "connected").catch(() => {}));
$("disconnect").addEventListener("click", () => report($("play-result"), api("POST", "/api/devices/disconnect"), () => "disconnected").catch(() => {}));

// ---- the practical: a guided experiment, each step on the rig and the model, its table filled as it is measured ---
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
let practicalShown = null;   // the practical whose steps are laid out (name and step ids): laid out again only when it changes
let practicalRevision = -1;  // the service's revision of the view shown: an answer that arrives after a later event is dropped
window.benchView.practical = null;

async function loadPracticals() {
  const list = await api("GET", "/api/practicals");
  $("practical-select").innerHTML = list.map((p) => `<option value="${esc(p.name)}">${esc(p.title)} (${p.steps} steps)</option>`).join("");
  onPractical(await api("GET", "/api/practical"));
}

function practicalError(e) { $("practical-error").textContent = e ? e.message : ""; }

$("practical-open").addEventListener("click", () => {
  practicalError(null);
  api("POST", "/api/practical", { name: $("practical-select").value, student: $("practical-student").value }).then(onPractical, practicalError);
});
$("practical-file").addEventListener("change", async () => {
  const file = $("practical-file").files[0];
  if (!file) return;
  practicalError(null);
  api("POST", "/api/practical", { text: await file.text(), student: $("practical-student").value }).then(onPractical, practicalError);
  $("practical-file").value = "";
});
$("practical-student").addEventListener("change", () => {
  if (window.benchView.practical && window.benchView.practical.name) api("PUT", "/api/practical/answers", { student: $("practical-student").value, answers: {} }).then(null, practicalError);
});
$("practical-cancel").addEventListener("click", () => api("POST", "/api/practical/cancel").then(onPractical, practicalError));
$("practical-worksheet").addEventListener("click", () => { practicalError(null); api("POST", "/api/practical/worksheet").then(onPractical, practicalError); });
$("practical-steps").addEventListener("click", (e) => {
  const id = e.target.dataset && e.target.dataset.run;
  if (id === undefined) return;
  practicalError(null);
  api("POST", "/api/practical/steps/" + encodeURIComponent(id) + "/run").then(onPractical, practicalError);
});
// An answer is kept when the student leaves its box (and a second after the last key, so nothing typed is lost).
const answerTimers = new Map();
function saveAnswer(box) {
  clearTimeout(answerTimers.get(box.dataset.answer));
  answerTimers.delete(box.dataset.answer);
  api("PUT", "/api/practical/answers", { answers: { [box.dataset.answer]: box.value } }).then(null, practicalError);
}
$("practical-steps").addEventListener("change", (e) => { if (e.target.dataset.answer) saveAnswer(e.target); });
$("practical-steps").addEventListener("input", (e) => {
  if (!e.target.dataset.answer) return;
  clearTimeout(answerTimers.get(e.target.dataset.answer));
  answerTimers.set(e.target.dataset.answer, setTimeout(() => saveAnswer(e.target), 1000));
});

function withUncertainty(v, u, never) {
  if (never) return "never";
  if (v == null) return "—";
  return u == null ? fmt(v, 3) : `${fmt(v, 3)} ± ${fmt(u, 3)}`;
}

function difference(r) {
  if (r.difference == null) return "<td>—</td>";
  const text = r.difference_uncertainty == null ? fmt(r.difference, 3) : `${fmt(r.difference, 3)} ± ${fmt(r.difference_uncertainty, 3)}`;
  return r.beyond_uncertainty ? `<td>${text}</td>` : `<td class="within-uncertainty" title="within twice its uncertainty: noise alone could make it">${text}</td>`;
}

// The step's table as a plot: rig (solid) and model (dashed) against the setting, with ± uncertainty bars.
function stepPlot(step) {
  const rows = step.rows.filter((r) => r.label == null);
  const ys = rows.flatMap((r) => [r.rig, r.model]).filter((v) => v != null);
  if (rows.length < 2 || ys.length === 0) return "";
  const W = 360, H = 200, L = 40, B = 26;
  const xs = rows.map((r) => r.x), x0 = Math.min(...xs), x1 = Math.max(...xs);
  const y0 = Math.min(0, ...ys), y1 = Math.max(...ys) * 1.1 || 1;
  const X = (x) => L + (x - x0) / Math.max(x1 - x0, 1e-9) * (W - L - 10), Y = (y) => H - B - (y - y0) / Math.max(y1 - y0, 1e-9) * (H - B - 10);
  let svg = `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(step.y_title)} against ${esc(step.x_title)}">`;
  svg += `<line x1="${L}" y1="${H - B}" x2="${W - 10}" y2="${H - B}" stroke="#333"/><line x1="${L}" y1="10" x2="${L}" y2="${H - B}" stroke="#333"/>`;
  svg += `<text x="${W / 2}" y="${H - 4}" font-size="10" text-anchor="middle">${esc(step.x_title)}</text>`;
  for (const t of [x0, x1]) svg += `<text x="${X(t)}" y="${H - B + 11}" font-size="9" text-anchor="middle">${fmt(t, 2)}</text>`;
  for (const t of [y0, y1]) svg += `<text x="${L - 3}" y="${Y(t) + 3}" font-size="9" text-anchor="end">${fmt(t, 2)}</text>`;
  for (const [cls, key, u] of [["rig", "rig", "rig_uncertainty"], ["model", "model", "model_uncertainty"]]) {
    const pts = rows.filter((r) => r[key] != null);
    svg += `<polyline class="${cls}" points="${pts.map((r) => `${X(r.x).toFixed(1)},${Y(r[key]).toFixed(1)}`).join(" ")}"/>`;
    for (const r of pts) {
      svg += `<circle class="${cls}" cx="${X(r.x).toFixed(1)}" cy="${Y(r[key]).toFixed(1)}" r="2.5"/>`;
      if (r[u] != null) svg += `<line class="${cls}" x1="${X(r.x).toFixed(1)}" x2="${X(r.x).toFixed(1)}" y1="${Y(r[key] - r[u]).toFixed(1)}" y2="${Y(r[key] + r[u]).toFixed(1)}"/>`;
    }
  }
  return svg + `<text x="${W - 110}" y="18" font-size="10" class="rig" stroke="none">● rig</text><text x="${W - 60}" y="18" font-size="10" class="model" stroke="none">● model</text></svg>`;
}

function onPractical(p) {
  // The first GET can come back after the stream has already brought a later state (the student opened one meanwhile).
  if (p.revision < practicalRevision) return;
  practicalRevision = p.revision;
  window.benchView.practical = p;
  $("practical-body").hidden = !p.name;
  if (!p.name) { practicalShown = null; return; }
  const layout = p.name + "|" + p.steps.map((s) => s.id).join(",");
  if (practicalShown !== layout) {
    practicalShown = layout;
    $("practical-title").textContent = p.title;
    $("practical-intro").textContent = p.intro;
    $("practical-steps").innerHTML = p.steps.map((s) => `<li data-step="${esc(s.id)}">
      <div class="step-head"><b>${esc(s.id)}</b> <span class="step-state"></span> <button data-run="${esc(s.id)}">Run this step</button></div>
      <p>${esc(s.text)}</p>
      <div class="step-body"><div><div class="step-table"></div><div class="step-results"></div><p class="hint step-method"></p></div><div class="step-plot"></div></div>
      ${s.questions.map((q, i) => `<div class="question"><p>${esc(q)}</p><textarea data-answer="${esc(s.id + "/" + i)}" maxlength="4000" aria-label="your answer"></textarea></div>`).join("")}
    </li>`).join("");
  }

  if (document.activeElement !== $("practical-student")) $("practical-student").value = p.student;
  // The list shows the practical open (a teacher's own file is not in it: the list is left as it is).
  const select = $("practical-select");
  if (document.activeElement !== select && [...select.options].some((o) => o.value === p.name)) select.value = p.name;
  for (const s of p.steps) {
    const li = document.querySelector(`#practical-steps li[data-step="${CSS.escape(s.id)}"]`);
    const state = li.querySelector(".step-state");
    state.dataset.state = s.state;
    state.textContent = s.state === "failed" ? "failed: " + s.error : s.state;
    li.querySelector("button[data-run]").disabled = p.running != null;
    li.querySelector("button[data-run]").textContent = s.state === "done" || s.state === "failed" ? "Run it again" : "Run this step";
    li.querySelector(".step-table").innerHTML = s.rows.length === 0 ? "" :
      `<table class="figures"><thead><tr><th>${esc(s.x_title)}</th><th>rig</th><th>model</th><th>model − rig</th></tr></thead><tbody>` +
      s.rows.map((r) => `<tr><td>${r.label == null ? fmt(r.x, 3) : esc(r.label)}</td><td>${withUncertainty(r.rig, r.rig_uncertainty)}</td>` +
        `<td>${withUncertainty(r.model, r.model_uncertainty)}</td>${difference(r)}</tr>`).join("") +
      `</tbody></table><p class="hint">${esc(s.y_title)} ± standard uncertainty</p>`;
    li.querySelector(".step-results").innerHTML = s.results.length === 0 ? "" :
      `<table class="figures"><thead><tr><th>result</th><th>rig</th><th>model</th><th>model − rig</th></tr></thead><tbody>` +
      s.results.map((r) => `<tr><td>${esc(r.name)}</td><td>${withUncertainty(r.rig, r.rig_uncertainty, r.rig_never)}</td>` +
        `<td>${withUncertainty(r.model, r.model_uncertainty, r.model_never)}</td>${difference(r)}</tr>`).join("") + "</tbody></table>";
    li.querySelector(".step-method").textContent = s.method || "";
    li.querySelector(".step-plot").innerHTML = stepPlot(s);
    for (const box of li.querySelectorAll("textarea[data-answer]")) {
      if (document.activeElement !== box && !answerTimers.has(box.dataset.answer)) box.value = p.answers[box.dataset.answer] || "";
    }
  }

  $("practical-progress").textContent = p.progress || "";
  $("practical-cancel").disabled = p.running == null;
  $("practical-worksheet").disabled = p.running != null;
  if (p.worksheet) {
    api("GET", "/api/practical/files").then((files) => {
      $("practical-files").innerHTML = "Worksheet: " + files.map((f) =>
        `<a href="${withToken("/api/practical/files/" + encodeURIComponent(f))}" ${f.endsWith(".html") ? 'target="_blank" rel="noopener"' : "download"}>${esc(f)}</a>`).join(" · ");
    }, practicalError);
  } else {
    $("practical-files").textContent = "";
  }
}

// ---- the live stream -----------------------------------------------------------------------------------------
function connectStream() {
  const source = new EventSource(withToken("/api/stream"));
  const on = (name, handler) => source.addEventListener(name, (e) => handler(JSON.parse(e.data)));
  on("trace", onTrace);
  on("model", onModel);
  on("sweep", onSweep);
  on("stimulus", (s) => { markers.push(s); window.benchView.markersReceived++; });
  on("status", onStatus);
  on("health", onHealth);
  on("metrics", onMetrics);
  on("practical", onPractical);
  source.onerror = () => {
    practicalRevision = -1;   // a service started again counts its revisions from 1
    $("status").dataset.state = "lost";
    $("status").textContent = "service unreachable — retrying…";
  };
}

$("threshold-definition").textContent = THRESHOLD_DEFINITION + ". The dashed line marks it on the sweep.";
$("features-definition").textContent = THRESHOLD_DEFINITION;
connectStream();
loadDevices();
loadProtocols().catch((e) => { $("play-result").textContent = e.message; });
loadRecordings().catch(() => {});
loadParameters().catch((e) => { $("param-result").textContent = e.message; });
checkStimulus();
loadPracticals().catch(practicalError);
