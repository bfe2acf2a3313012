// Bench live page: subscribes to /api/stream (server-sent events) and draws the decimated traces with uPlot.
// The server does the min/max decimation, so the page only ever holds ~1,000 points per second per trace.
"use strict";

const token = new URLSearchParams(location.search).get("token");
const withToken = (url) => token ? url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token) : url;
const $ = (id) => document.getElementById(id);

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

// ---- the traces: decimated buckets keyed by their start time; the recorded and the model's arrive separately ------
const KEEP_MS = 10000;
const buckets = new Map();   // time_ms -> [recordedMin, recordedMax, modelMin, modelMax]
const model = { t: [], iNa: [], iK: [], m: [], h: [], n: [] };
const markers = [];
let windowMs = 1000, frozen = false, latestMs = 0;
window.benchView = { tracePoints: 0, modelPoints: 0, markersDrawn: 0, markersReceived: 0, phases: [], draws: 0 };

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

function traceData() {
  const from = latestMs - windowMs;
  const times = [...buckets.keys()].filter((t) => t >= from).sort((a, b) => a - b);
  const col = (k) => times.map((t) => buckets.get(t)[k]);
  return [times, col(1), col(0), col(3), col(2)];
}

function onModel(m) {
  if (!m || !m.time_ms) return;
  for (let i = 0; i < m.time_ms.length; i++) {
    model.t.push(m.time_ms[i]); model.iNa.push(m.i_na[i]); model.iK.push(m.i_k[i]);
    model.m.push(m.m[i]); model.h.push(m.h[i]); model.n.push(m.n[i]);
  }
  trim(model, ["t", "iNa", "iK", "m", "h", "n"], latestMs - KEEP_MS);
}

// ---- action-potential phases, found on the recorded trace ----------------------------------------------------
function findPhases(t, lo, hi) {
  const mid = (i) => (lo[i] + hi[i]) / 2;
  let peak = -1;
  for (let i = t.length - 1; i > 0; i--) {
    if (hi[i] != null && hi[i] > 0 && (hi[i + 1] == null || hi[i] >= hi[i + 1]) && hi[i] >= hi[i - 1]) { peak = i; break; }
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
    { phase: "threshold", t: t[thr], v: mid(thr), label: "threshold" },
    { phase: "rising", t: t[upHalf], v: mid(upHalf), label: "rising: Na⁺ in" },
    { phase: "overshoot", t: t[peak], v: hi[peak], label: "overshoot > 0 mV" },
    { phase: "falling", t: t[downHalf], v: mid(downHalf), label: "falling: K⁺ out" },
    { phase: "ahp", t: t[ahp], v: lo[ahp], label: "AHP, refractory" },
  ];
  if (back > 0) phases.push({ phase: "return", t: t[back], v: mid(back), label: "back to rest" });
  return phases;
}

// ---- plots ---------------------------------------------------------------------------------------------------
function size(el) { return { width: Math.max(300, el.clientWidth), height: el.classList.contains("small") ? 160 : 340 }; }

function drawOverlay(u) {
  const ctx = u.ctx, [x0, x1] = [u.scales.x.min, u.scales.x.max];
  ctx.save();
  ctx.strokeStyle = getComputedStyle(document.documentElement).getPropertyValue("--marker").trim();
  ctx.fillStyle = ctx.strokeStyle;
  ctx.lineWidth = 2 * devicePixelRatio;
  let drawn = 0;
  for (const m of markers) {
    if (m.onset_ms < x0 || m.onset_ms > x1) continue;
    const x = u.valToPos(m.onset_ms, "x", true);
    ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + 10 * devicePixelRatio); ctx.stroke();
    ctx.globalAlpha = 0.25; ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke(); ctx.globalAlpha = 1;
    drawn++;
  }
  window.benchView.markersDrawn = drawn;
  // Phase labels on the most recent action potential in view.
  ctx.font = `${11 * devicePixelRatio}px system-ui`;
  ctx.fillStyle = "#333";
  const phases = window.benchView.phases.filter((p) => p.t >= x0 && p.t <= x1);
  for (const p of phases) {
    const x = u.valToPos(p.t, "x", true), y = u.valToPos(p.v, "y", true);
    ctx.beginPath(); ctx.arc(x, y, 3 * devicePixelRatio, 0, 2 * Math.PI); ctx.fill();
    // Phases before the peak are labelled on its left, the rest on its right, so the labels do not collide.
    const left = p.phase === "rising" || p.phase === "threshold";
    ctx.textAlign = left ? "right" : "left";
    ctx.fillText(p.label, x + (left ? -6 : 6) * devicePixelRatio, y + (p.phase === "ahp" ? 14 : -5) * devicePixelRatio);
  }
  ctx.restore();
}

const scopeEl = $("trace");
const scope = new uPlot({
  ...size(scopeEl),
  scales: { x: { time: false }, y: { range: [-100, 60] } },
  axes: [{ label: "time (ms)" }, { label: "mV" }],
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
const gates = new uPlot({ ...size(gatesEl), scales: { x: { time: false }, y: { range: [0, 1] } }, axes: [{ label: "time (ms)" }, { label: "gate" }],
  series: [{}, { label: "m (Na⁺ activation)", stroke: "#e8590c" }, { label: "h (Na⁺ inactivation)", stroke: "#2b8a3e" }, { label: "n (K⁺ activation)", stroke: "#5f3dc4" }] },
  [[], [], [], []], gatesEl);

function visible(series, keys) {
  const from = latestMs - windowMs;
  let k = 0;
  while (k < series.t.length && series.t[k] < from) k++;
  return keys.map((key) => series[key].slice(k));
}

function render() {
  if (!frozen && buckets.size) {
    const data = traceData();
    window.benchView.tracePoints = data[1].filter((v) => v != null).length;
    window.benchView.modelPoints = data[3].filter((v) => v != null).length;
    window.benchView.phases = findPhases(data[0], data[2], data[1]);
    for (const li of document.querySelectorAll("#phase-list li")) li.classList.toggle("seen", window.benchView.phases.some((p) => p.phase === li.dataset.phase));
    scope.batch(() => { scope.setData(data, false); scope.setScale("x", { min: latestMs - windowMs, max: latestMs }); });
    if (model.t.length) {
      const md = visible(model, ["t", "iNa", "iK", "m", "h", "n"]);
      currents.setData([md[0], md[1], md[2]]);
      gates.setData([md[0], md[3], md[4], md[5]]);
    }
    window.benchView.draws++;
  }
  requestAnimationFrame(render);
}
requestAnimationFrame(render);
window.addEventListener("resize", () => { for (const [u, el] of [[scope, scopeEl], [currents, currentsEl], [gates, gatesEl]]) u.setSize(size(el)); });
$("window-select").addEventListener("change", (e) => { windowMs = Number(e.target.value); });
// Freezing holds the view on the newest action potential, zoomed so that its phases can be read.
$("freeze").addEventListener("change", (e) => {
  frozen = e.target.checked;
  const p = window.benchView.phases;
  const thr = p.find((x) => x.phase === "threshold"), peak = p.find((x) => x.phase === "overshoot");
  if (frozen && thr && peak) {
    const lo = thr.t - 8, hi = peak.t + 30;
    scope.setScale("x", { min: lo, max: hi });
    for (const u of [currents, gates]) u.setScale("x", { min: lo, max: hi });
  }
});

// ---- panels --------------------------------------------------------------------------------------------------
const fmt = (v, digits = 2) => v == null || Number.isNaN(v) ? "—" : (typeof v === "number" ? v.toFixed(digits) : String(v));
function fillTable(el, rows) { el.querySelector("tbody").innerHTML = rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join("")}</tr>`).join(""); }

let connectedTo = null;
function onStatus(s) {
  if (s.state === "connected" && connectedTo !== null && s.address !== connectedTo) resetView();
  if (s.state === "connected") connectedTo = s.address;
  const el = $("status");
  el.dataset.state = s.state;
  el.textContent = s.state === "connected"
    ? `${s.device.board} ${s.device.unique_id} on ${s.address} — ${s.sample_rate_hz} Hz${s.recording ? " — recording " + s.recording.name : ""}${s.device.timing ? " — " + s.device.timing : ""}`
    : s.state === "lost" ? `rig lost: ${s.error || "connection dropped"} — the service keeps running; reconnect it` : `no rig connected${s.error ? ": " + s.error : ""}`;
  $("record-state").textContent = s.recording ? `recording '${s.recording.name}'…` : "";
  $("record").disabled = !!s.recording || s.state !== "connected";
  $("stop-record").disabled = !s.recording;
  $("play").disabled = s.state !== "connected";
}

function onHealth(h) {
  fillTable($("health"), [
    ["samples received", h.samples_received], ["gaps", h.gaps], ["samples lost", h.lost_samples],
    ["CRC errors", h.crc_errors], ["framing errors", h.framing_errors], ["frames lost", h.frames_lost],
    ["device overruns", h.device_overruns], ["clock drift (ppm)", fmt(h.drift_ppm, 1)],
  ]);
}

function onMetrics(m) {
  if (!m) return;
  fillTable($("metrics"), [
    ["RMSE (window)", fmt(m.window_rmse_mv) + " mV"], ["correlation (window)", fmt(m.window_correlation, 3)],
    ["RMSE (all)", fmt(m.rmse_mv) + " mV"], ["spikes recorded / model", `${m.spikes_recorded} / ${m.spikes_model}`],
    ["coincidence Γ", fmt(m.gamma, 3)], ["mean spike-time error", fmt(m.mean_spike_time_error_ms) + " ms"],
    ["Victor–Purpura distance", fmt(m.victor_purpura)],
  ]);
  const f = m.features || [];
  $("features").querySelector("tbody").innerHTML = f.map((r) =>
    `<tr><td>${r.name}</td><td>${fmt(r.recorded)}</td><td>${fmt(r.model)}</td><td>${fmt(r.difference)}</td></tr>`).join("");
}

async function loadDevices() {
  try {
    const d = await api("GET", "/api/devices");
    $("device-select").innerHTML = d.devices.map((x) => `<option value="${x.port}">${x.port} — ${x.status === "rig" ? x.board : x.status}</option>`).join("");
    if (d.connected) $("device-select").value = d.connected;
  } catch (e) { $("status").textContent = "cannot list devices: " + e.message; }
}

async function loadProtocols() {
  const list = await api("GET", "/api/protocols");
  $("protocol-select").innerHTML = list.map((p) => `<option value="${p.name}">${p.name}</option>`).join("");
  const describe = () => { const p = list.find((x) => x.name === $("protocol-select").value); $("protocol-description").textContent = p ? p.description : ""; };
  $("protocol-select").addEventListener("change", describe);
  describe();
}

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
  promise.then((r) => { el.textContent = ok(r); }).catch((e) => { el.classList.add("error"); el.textContent = e.message; });
  return promise;
}

$("play").addEventListener("click", () => report($("play-result"), api("POST", "/api/stimulus/play", { name: $("protocol-select").value }),
  (r) => `playing: ${r.pulses} pulse(s) over ${fmt(r.duration_ms, 1)} ms`));
$("stop-all").addEventListener("click", () => report($("play-result"), api("POST", "/api/stimulus/stop-all"), () => "all stimulation stopped"));
$("record").addEventListener("click", () => report($("record-state"), api("POST", "/api/recordings", { name: $("record-name").value || null }),
  (r) => `recording '${r.name}'…`));
$("stop-record").addEventListener("click", () => report($("record-state"), api("POST", "/api/recordings/stop"),
  (r) => `saved '${r.name}': ${fmt(r.duration_s, 1)} s`).then(loadRecordings, () => {}));
$("recordings").addEventListener("click", (e) => {
  const name = e.target.dataset && e.target.dataset.delete;
  if (name && confirm(`Delete recording '${name}'?`)) api("DELETE", "/api/recordings/" + encodeURIComponent(name)).then(loadRecordings, (err) => alert(err.message));
});
$("connect").addEventListener("click", () => report($("play-result"), api("POST", "/api/devices/connect", { address: $("device-select").value }), () => "connected"));
$("disconnect").addEventListener("click", () => report($("play-result"), api("POST", "/api/devices/disconnect"), () => "disconnected"));

// ---- the live stream -----------------------------------------------------------------------------------------
function connectStream() {
  const source = new EventSource(withToken("/api/stream"));
  const on = (name, handler) => source.addEventListener(name, (e) => handler(JSON.parse(e.data)));
  on("trace", onTrace);
  on("model", onModel);
  on("stimulus", (s) => { markers.push(s); window.benchView.markersReceived++; });
  on("status", onStatus);
  on("health", onHealth);
  on("metrics", onMetrics);
  source.onerror = () => { $("status").dataset.state = "lost"; $("status").textContent = "service unreachable — retrying…"; };
}

connectStream();
loadDevices();
loadProtocols().catch((e) => { $("play-result").textContent = e.message; });
loadRecordings().catch(() => {});
