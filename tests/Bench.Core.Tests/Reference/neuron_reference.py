#!/usr/bin/python3
"""Golden reference data for Bench's Hodgkin-Huxley implementation, produced with NEURON.

Run (from this folder or anywhere):   /usr/bin/python3 neuron_reference.py
(Debian 12 `python3-neuron` / `neuron` 8.2.2-4; use the Debian interpreter, which sees python3-neuron.)

Everything this script writes goes next to it:
  hh_*.csv.gz          single-compartment traces, header `time_ms,v_mV,m,h,n`, one row per time step
                       including t = 0 (the state left by h.finitialize(-65)).  gzip-compressed (deterministically:
                       no name, mtime 0) because as plain text the seven traces are ~1.9 MB; the JSON records the
                       sha256 of each uncompressed CSV.
  axon_nseg2000_dt0.025.csv   squid-axon trace, header `time_ms,v_mV@0.25,v_mV@0.75`.
  neuron_summary.json  spike times/peaks/AHPs for every trace case, the derived figures (rest, repetitive-firing
                       onset, strength-duration, anode break, refractoriness) and the axon conduction velocities,
                       together with every input used to make them.
No timestamps or host details are written, so a re-run reproduces the files byte for byte (same NEURON build).

NEURON settings used everywhere (and why)
-----------------------------------------
* Mechanism: NEURON's built-in `hh` (src/nrnoc/hh.mod, copied next to this script as hh.mod; the Debian package
  does not ship the .mod file, the copy is the source text that nocmodl embedded in /usr/lib/nrn/libnrniv.so).
  Its defaults are kept: gnabar 0.12 S/cm2, gkbar 0.036 S/cm2, gl 0.0003 S/cm2, el -54.3 mV; ena = 50 mV and
  ek = -77 mV (NEURON's default na/k ion reversal potentials).  The script asserts all of these.
* cm = 1 uF/cm2 (NEURON default, set explicitly).
* Integrator: the default fixed-step *first-order backward Euler*: h.secondorder = 0 and CVode never activated.
  The script steps with a plain loop of h.fadvance() (it does not load stdrun.hoc, so nothing such as
  steps_per_ms can silently change h.dt).  A run of duration T does N = round(T/dt) fadvance calls; t is whatever
  NEURON accumulates (two `t += dt/2` per step), recorded from h._ref_t, so time_ms carries NEURON's own rounding.
* Initialisation: h.finitialize(-65): v = -65 mV everywhere, then hh's INITIAL block sets m, h, n to
  minf, hinf, ninf at -65 mV (via the rate table when usetable_hh = 1; -65 is a table node, so no interpolation).
* h.usetable_hh = 1 (NEURON's default) unless a case says table0: rates() then reads minf/mtau/hinf/htau/ninf/ntau
  from tables on -100..100 mV with 200 intervals (1 mV), linear interpolation, clamped to the end values outside
  the range; the tables are rebuilt when celsius changes.  usetable_hh = 0 evaluates the rate formulas exactly.
* Recording: Vector.record of t, v, m, h, n at every step (the record happens at finitialize, t = 0, and at the
  end of every fadvance, after the gates have been advanced).
* celsius = 6.3 degC unless stated (hh's q10 = 3^((celsius-6.3)/10), so q10 = 1 at 6.3 degC).

What one h.fadvance() does here (secondorder = 0; fadvance.cpp nrn_fixed_step_thread/_lastpart)
-------------------------------------------------------------------------------------------------
  t += dt/2; currents from the OLD v and OLD m,h,n (hh's di/dv taken numerically, (i(v+.001)-i(v))/.001; IClamp
  evaluated at this mid-step t); implicit solve v += (i_stim - i_ion)/(1e-3*cm/dt + g); t += dt/2; then the gates
  by cnexp at the NEW v: x += (1 - exp(-dt/xtau))*(xinf - x); then the recorders sample.  hh_replica_check.py is a
  stdlib-only implementation of exactly this and matches these traces to ~1e-11 mV.

Single compartment
------------------
One section, nseg = 1, L = 10 um, diam = 100/(pi*10) um, so area = pi*diam*L = 100 um2 (h.area(0.5) is checked to be
exactly 100.0).  1 uA/cm2 of current density is then 1 uA/cm2 * 1e-6 cm2 = 1e-3 nA, so a density J (uA/cm2) is
applied as IClamp amp = J/1000 nA.  NEURON converts a point-process current to a density with 1e2/area
(nA -> mA/cm2), which is exactly 1.0 here, i.e. the stimulus density in mA/cm2 is bit-identical to amp.
Stimuli are IClamp point processes at x = 0.5.  IClamp's BREAKPOINT sets i = amp when del <= t < del+dur, else 0,
and in fixed-step NEURON the BREAKPOINT (current) evaluation of the step t -> t+dt happens at t + dt/2.  Hence a
pulse with del and del+dur on the dt grid acts on exactly the steps starting at del, del+dt, ..., del+dur-dt
(the half-step margin makes this immune to the rounding in the accumulated t).  E.g. 1 ms at 5 ms with dt 0.025 acts
on the 40 steps 5.000->5.025 ... 5.975->6.000.

Squid giant axon
----------------
One section, L = 20000 um, diam = 476 um, Ra = 35.4 ohm cm, cm = 1, hh, celsius = 18.5 degC, usetable_hh = 1.
IClamp at x = 0 (the zero-area end node of the section, joined to the centre of the first segment by half a
segment's axial resistance; the x = 1 end is sealed), delay 1 ms, dur 0.5 ms, amp 5000 nA (threshold ~1.7 uA:
100 or 200 nA do not fire this 476 um axon; the runs proving that are in the JSON).  v recorded at sec(0.25) and
sec(0.75); those are the centres of segments n/4 and 3n/4 (0-based), i.e. x = 0.25 + 0.5/nseg and 0.75 + 0.5/nseg
(NEURON maps an x on a segment boundary to the segment to its right); the script reports the actual centres.
Velocity = (distance between the two segment centres) / (difference of their 0 mV upward-crossing times).

Definitions used in neuron_summary.json
---------------------------------------
* Spike time: every upward crossing of 0 mV, i.e. a step i with v[i-1] < 0 <= v[i]; the time is linearly
  interpolated, t = t[i-1] + (0 - v[i-1]) * (t[i] - t[i-1]) / (v[i] - v[i-1]).
* first_spike_peak: the largest sample of v from the first upward crossing up to the next sample with v < 0.
* ahp_min: the smallest sample of v from that first sample below 0 after the first spike up to (not including)
  the sample that completes the next upward crossing, or to the end of the trace.
* "fires": at least one upward crossing of 0 mV anywhere in the run.
* Bisections are done on a grid: amplitudes are k/100 uA/cm2 (or k/10 for the refractory search) with integer k,
  and the result is the smallest grid amplitude that satisfies the criterion (the grid point below does not).
"""

import gzip
import hashlib
import json
import math
import os
import subprocess

from neuron import h
import neuron

HERE = os.path.dirname(os.path.abspath(__file__))

# ----------------------------------------------------------------------------------------------------------------
# Global NEURON state
# ----------------------------------------------------------------------------------------------------------------
h.secondorder = 0          # first-order (backward Euler) fixed step; 0 is NEURON's default, set for clarity
h.usetable_hh = 1          # NEURON's default; changed per case and always restored to 1
h.celsius = 6.3
assert not h.CVode().active(), "CVode must be off: we want the fixed-step method"


def fmt(x):
    """Full-precision text of a float: repr() is the shortest string that round-trips to the same double."""
    return repr(float(x))


# ----------------------------------------------------------------------------------------------------------------
# Single compartment
# ----------------------------------------------------------------------------------------------------------------
SOMA_L = 10.0
SOMA_DIAM = 100.0 / (math.pi * 10.0)
soma = h.Section(name="soma")
soma.nseg = 1
soma.L = SOMA_L
soma.diam = SOMA_DIAM
soma.cm = 1.0
soma.insert("hh")
SOMA_AREA = h.area(0.5, sec=soma)
assert SOMA_AREA == 100.0, repr(SOMA_AREA)
_seg = soma(0.5)
assert (_seg.ena, _seg.ek) == (50.0, -77.0), (_seg.ena, _seg.ek)
assert (_seg.hh.gnabar, _seg.hh.gkbar, _seg.hh.gl, _seg.hh.el) == (0.12, 0.036, 0.0003, -54.3)
assert _seg.cm == 1.0


def density_to_nA(j_uA_per_cm2):
    """IClamp amplitude (nA) for a current density (uA/cm2) on the 100 um2 compartment."""
    return j_uA_per_cm2 / 1000.0


def run_soma(pulses, tstop, dt, celsius=6.3, usetable=1, gates=True):
    """Run the single compartment.

    pulses: list of (del_ms, dur_ms, density_uA_per_cm2), each becomes one IClamp at soma(0.5).
    Returns dict of lists t, v (and m, h, n if gates).
    """
    h.celsius = celsius
    h.usetable_hh = usetable
    h.dt = dt
    stims = []
    for (d, dur, j) in pulses:
        s = h.IClamp(soma(0.5))
        s.delay = d          # `del` in IClamp; `delay` is its Python alias
        s.dur = dur
        s.amp = density_to_nA(j)
        stims.append(s)
    rec = {"t": h.Vector().record(h._ref_t), "v": h.Vector().record(soma(0.5)._ref_v)}
    if gates:
        rec["m"] = h.Vector().record(soma(0.5).hh._ref_m)
        rec["h"] = h.Vector().record(soma(0.5).hh._ref_h)
        rec["n"] = h.Vector().record(soma(0.5).hh._ref_n)
    h.finitialize(-65.0)
    nsteps = int(round(tstop / dt))
    fadvance = h.fadvance
    for _ in range(nsteps):
        fadvance()
    out = {k: list(vec) for k, vec in rec.items()}
    assert len(out["t"]) == nsteps + 1
    # release the recorders and clamps so they do not leak into later runs
    for vec in rec.values():
        vec.play_remove()
    del rec, stims
    h.usetable_hh = 1
    h.celsius = 6.3
    return out


# ----------------------------------------------------------------------------------------------------------------
# Trace analysis
# ----------------------------------------------------------------------------------------------------------------
def crossings(t, v, thr=0.0):
    """(interpolated time, index i) of every upward crossing v[i-1] < thr <= v[i]."""
    out = []
    for i in range(1, len(v)):
        if v[i - 1] < thr <= v[i]:
            out.append((t[i - 1] + (thr - v[i - 1]) * (t[i] - t[i - 1]) / (v[i] - v[i - 1]), i))
    return out


def spike_times(t, v):
    return [c[0] for c in crossings(t, v)]


def analyse(t, v):
    cr = crossings(t, v)
    res = {
        "spike_times_ms": [c[0] for c in cr],
        "n_spikes": len(cr),
        "first_spike_peak_mV": None, "first_spike_peak_time_ms": None,
        "ahp_min_mV": None, "ahp_min_time_ms": None,
        "v_end_mV": v[-1], "t_end_ms": t[-1], "n_steps": len(t) - 1,
    }
    if cr:
        i0 = cr[0][1]
        j = i0
        while j < len(v) and v[j] >= 0.0:
            j += 1
        ipk = max(range(i0, j), key=lambda k: v[k])
        res["first_spike_peak_mV"] = v[ipk]
        res["first_spike_peak_time_ms"] = t[ipk]
        if j < len(v):
            end = cr[1][1] if len(cr) > 1 else len(v)
            imin = min(range(j, end), key=lambda k: v[k])
            res["ahp_min_mV"] = v[imin]
            res["ahp_min_time_ms"] = t[imin]
    return res


def write_csv(name, header, columns):
    """Write a CSV (LF line ends, repr() numbers).  If name ends in .gz it is gzip-compressed deterministically
    (no file name, mtime 0), so re-running the script reproduces the bytes.  sha256 is of the *uncompressed* CSV."""
    text = header + "\n" + "".join(",".join(fmt(x) for x in row) + "\n" for row in zip(*columns))
    data = text.encode("ascii")
    path = os.path.join(HERE, name)
    with open(path, "wb") as f:
        if name.endswith(".gz"):
            with gzip.GzipFile(filename="", mode="wb", fileobj=f, compresslevel=9, mtime=0) as g:
                g.write(data)
        else:
            f.write(data)
    return {"file": name, "rows": len(columns[0]), "csv_sha256": hashlib.sha256(data).hexdigest()}


def grid_threshold(pred, k_lo, k_hi):
    """Smallest integer k in (k_lo, k_hi] with pred(k) true, by bisection (pred takes the integer grid index).

    Requires pred(k_lo) false and pred(k_hi) true (both checked).  Returns (k, number of runs)."""
    assert not pred(k_lo), ("lower bracket fires", k_lo)
    assert pred(k_hi), ("upper bracket does not fire", k_hi)
    n = 2
    while k_hi - k_lo > 1:
        k = (k_lo + k_hi) // 2
        n += 1
        if pred(k):
            k_hi = k
        else:
            k_lo = k
    return k_hi, n


# ----------------------------------------------------------------------------------------------------------------
# Single-compartment trace cases
# ----------------------------------------------------------------------------------------------------------------
summary = {
    "generator": "neuron_reference.py",
    "neuron": {
        "python_module_version": neuron.__version__,
        "nrnversion": h.nrnversion(),
        "debian_packages": None,
        "hh_mod_sha256": None,
    },
    "common_settings": {
        "mechanism": "hh (NEURON built-in, see hh.mod)",
        "method": "fixed-step first-order backward Euler: h.secondorder = 0, CVode off, loop of h.fadvance()",
        "init": "h.finitialize(-65): v = -65 mV, m,h,n = minf,hinf,ninf(-65)",
        "cm_uF_per_cm2": 1.0, "ena_mV": 50.0, "ek_mV": -77.0,
        "gnabar_S_per_cm2": 0.12, "gkbar_S_per_cm2": 0.036, "gl_S_per_cm2": 0.0003, "el_mV": -54.3,
        "usetable_hh_default": 1,
        "hh_table": "minf,mtau,hinf,htau,ninf,ntau DEPEND celsius FROM -100 TO 100 WITH 200 "
                    "(201 nodes, 1 mV apart, linear interpolation, clamped outside)",
        "recording": "Vector.record at t=0 (finitialize) and after every fadvance",
        "stimulus_timing": "IClamp i = amp if del <= t < del+dur, evaluated at t+dt/2 of each step",
        "spike_definition": "upward 0 mV crossing v[i-1] < 0 <= v[i], linearly interpolated time",
    },
    "single_compartment": {
        "L_um": SOMA_L, "diam_um": SOMA_DIAM, "nseg": 1, "area_um2": SOMA_AREA,
        "stim_conversion": "IClamp amp (nA) = density (uA/cm2) / 1000; NEURON's 1e2/area factor is exactly 1",
        "stim_site": 0.5,
    },
    "cases": {},
}

try:
    pk = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version}\\n", "neuron", "python3-neuron"],
                        capture_output=True, text=True, check=True).stdout.split("\n")
    summary["neuron"]["debian_packages"] = [p for p in pk if p]
except Exception as e:  # not fatal: e.g. a non-Debian NEURON
    summary["neuron"]["debian_packages"] = "unknown (%s)" % e
with open(os.path.join(HERE, "hh.mod"), "rb") as f:
    summary["neuron"]["hh_mod_sha256"] = hashlib.sha256(f.read()).hexdigest()

PULSE = (5.0, 1.0, 20.0)
STEP = (5.0, 100.0, 10.0)
trace_cases = []
for dt in (0.025, 0.01):
    for tab in (1, 0):
        trace_cases.append(("hh_pulse_dt%s_table%d" % (dt, tab), [PULSE], 30.0, dt, 6.3, tab, True))
trace_cases.append(("hh_step_dt0.025_table1", [STEP], 120.0, 0.025, 6.3, 1, True))
# table-off step: summary only (no trace file, to keep the folder small)
trace_cases.append(("hh_step_dt0.025_table0", [STEP], 120.0, 0.025, 6.3, 0, False))
for tab in (1, 0):
    trace_cases.append(("hh_pulse_celsius18.5_dt0.01_table%d" % tab, [PULSE], 30.0, 0.01, 18.5, tab, True))

for name, pulses, tstop, dt, cel, tab, write in trace_cases:
    r = run_soma(pulses, tstop, dt, celsius=cel, usetable=tab)
    entry = {
        "dt_ms": dt, "tstop_ms": tstop, "celsius_degC": cel, "usetable_hh": tab,
        "stimuli": [{"del_ms": d, "dur_ms": du, "density_uA_per_cm2": j, "iclamp_amp_nA": density_to_nA(j)}
                    for (d, du, j) in pulses],
    }
    entry.update(analyse(r["t"], r["v"]))
    entry["end_state"] = {"m": r["m"][-1], "h": r["h"][-1], "n": r["n"][-1]}
    if write:
        entry["trace"] = write_csv(name + ".csv.gz", "time_ms,v_mV,m,h,n", [r["t"], r["v"], r["m"], r["h"], r["n"]])
    else:
        entry["trace"] = None
    summary["cases"][name] = entry
    print(name, entry["n_spikes"], entry["first_spike_peak_mV"], entry["ahp_min_mV"], entry["v_end_mV"], flush=True)

# ----------------------------------------------------------------------------------------------------------------
# Derived figures (dt = 0.01, usetable_hh = 1, celsius = 6.3)
# ----------------------------------------------------------------------------------------------------------------
DT = 0.01
derived = {"dt_ms": DT, "usetable_hh": 1, "celsius_degC": 6.3}

# a. resting potential: 500 ms without stimulus
r = run_soma([], 500.0, DT)
derived["rest_mV"] = r["v"][-1]
derived["rest"] = {"tstop_ms": 500.0, "v_end_mV": r["v"][-1], "t_end_ms": r["t"][-1],
                   "m": r["m"][-1], "h": r["h"][-1], "n": r["n"][-1],
                   "v_at_250ms_mV": r["v"][25000]}
r0 = run_soma([], 500.0, DT, usetable=0)
derived["rest"]["v_end_mV_usetable0"] = r0["v"][-1]
print("rest", derived["rest_mV"], r0["v"][-1], flush=True)

# b. repetitive-firing onset: step from 50 ms for 1000 ms; "sustained" = >= 5 spikes in its last 500 ms.
ON_DEL, ON_DUR = 50.0, 1000.0
WIN = (ON_DEL + ON_DUR - 500.0, ON_DEL + ON_DUR)


def step_window_spikes(j):
    rr = run_soma([(ON_DEL, ON_DUR, j)], ON_DEL + ON_DUR, DT, gates=False)
    st = spike_times(rr["t"], rr["v"])
    return st, [s for s in st if WIN[0] <= s <= WIN[1]]


def rate_info(j):
    st, w = step_window_spikes(j)
    info = {"density_uA_per_cm2": j, "n_spikes_total": len(st), "n_spikes_last500ms": len(w),
            "rate_count_Hz": len(w) / 0.5,
            "rate_isi_Hz": (1000.0 * (len(w) - 1) / (w[-1] - w[0])) if len(w) > 1 else None,
            "window_spike_times_ms": w}
    return info


def sustained(j):
    return len(step_window_spikes(j)[1]) >= 5


k_on, nev = grid_threshold(lambda k: sustained(k / 100), 0, 2000)
onset = k_on / 100
scan = []
for kk in range(0, 2001, 25):   # 0, 0.25, ..., 20 uA/cm2: shows whether "sustained" is monotonic in J
    st, w = step_window_spikes(kk / 100)
    scan.append([kk / 100, len(st), len(w)])
monotonic = all((row[2] >= 5) == (row[0] >= onset) for row in scan)
derived["repetitive_firing"] = {
    "protocol": {"del_ms": ON_DEL, "dur_ms": ON_DUR, "tstop_ms": ON_DEL + ON_DUR,
                 "window_ms": list(WIN), "criterion": ">= 5 upward 0 mV crossings with time in window",
                 "bisection_grid_uA_per_cm2": 0.01},
    "onset_uA_per_cm2": onset,
    "below_onset_uA_per_cm2": (k_on - 1) / 100,
    "below_onset": rate_info((k_on - 1) / 100),
    "at_onset": rate_info(onset),
    "at_10": rate_info(10.0),
    "at_20": rate_info(20.0),
    "rate_definitions": {"rate_count_Hz": "number of spikes in the 500 ms window / 0.5 s",
                         "rate_isi_Hz": "1000 * (n-1) / (last - first spike time in window, ms)"},
    "scan_columns": ["density_uA_per_cm2", "n_spikes_total", "n_spikes_last500ms"],
    "scan": scan,
    "scan_consistent_with_onset": monotonic,
    "bisection_runs": nev,
}
print("onset", onset, derived["repetitive_firing"]["at_onset"]["rate_isi_Hz"],
      derived["repetitive_firing"]["at_10"]["rate_isi_Hz"], derived["repetitive_firing"]["at_20"]["rate_isi_Hz"],
      "monotonic", monotonic, flush=True)

# c. strength-duration: single square pulse starting at 5 ms; fires = crosses 0 mV. Runs last 60 ms.
SD_DEL, SD_TSTOP = 5.0, 60.0
sd = []
for dur in (0.1, 0.2, 0.5, 1.0, 2.0, 5.0):
    def fires(j, dur=dur):
        rr = run_soma([(SD_DEL, dur, j)], SD_TSTOP, DT, gates=False)
        return len(crossings(rr["t"], rr["v"])) > 0
    k, nev = grid_threshold(lambda k: fires(k / 100), 0, 200000)     # up to 2000 uA/cm2
    thr = k / 100
    rr = run_soma([(SD_DEL, dur, thr)], SD_TSTOP, DT, gates=False)
    a = analyse(rr["t"], rr["v"])
    sd.append({"dur_ms": dur, "threshold_uA_per_cm2": thr, "below_threshold_uA_per_cm2": (k - 1) / 100,
               "charge_nC_per_cm2": thr * dur, "spike_time_at_threshold_ms": a["spike_times_ms"][0],
               "peak_at_threshold_mV": a["first_spike_peak_mV"], "bisection_runs": nev})
    print("SD", dur, thr, flush=True)
derived["strength_duration"] = {"protocol": {"del_ms": SD_DEL, "tstop_ms": SD_TSTOP,
                                             "criterion": "any upward 0 mV crossing",
                                             "bisection_grid_uA_per_cm2": 0.01},
                                "results": sd}

# d. anode break: -10 uA/cm2 from 5 to 25 ms
AB = (5.0, 20.0, -10.0)
rr = run_soma([AB], 60.0, DT)
a = analyse(rr["t"], rr["v"])
after = [s for s in a["spike_times_ms"] if s >= AB[0] + AB[1]]
vmin_during = min(v for (t, v) in zip(rr["t"], rr["v"]) if t <= AB[0] + AB[1] + 1e-9)
derived["anode_break"] = {"stimulus": {"del_ms": AB[0], "dur_ms": AB[1], "density_uA_per_cm2": AB[2]},
                          "tstop_ms": 60.0, "spike_after_release": bool(after),
                          "spike_times_after_release_ms": after,
                          "min_v_during_hyperpolarisation_mV": vmin_during,
                          "v_at_release_mV": rr["v"][int(round((AB[0] + AB[1]) / DT))],
                          "analysis": a}
print("anode break", after, a["first_spike_peak_mV"], flush=True)

# e. refractoriness: conditioning 1 ms of 20 uA/cm2 at 5 ms, then a 1 ms test pulse `delay` ms later
#    (onset to onset).  Threshold = smallest test amplitude (0.1 uA/cm2 grid, up to 500) giving >= 2 spikes.
COND = (5.0, 1.0, 20.0)
rc = run_soma([COND], 100.0, DT, gates=False)
assert len(spike_times(rc["t"], rc["v"])) == 1
refr = []
for delay in (4.0, 6.0, 8.0, 10.0, 15.0, 20.0):
    t2 = COND[0] + delay
    tstop = t2 + 1.0 + 40.0

    def two(j, t2=t2, tstop=tstop):
        rr = run_soma([COND, (t2, 1.0, j)], tstop, DT, gates=False)
        return len(crossings(rr["t"], rr["v"])) >= 2
    if not two(500.0):
        rr = run_soma([COND, (t2, 1.0, 500.0)], tstop, DT, gates=False)
        after = [(t, v) for (t, v) in zip(rr["t"], rr["v"]) if t >= t2]
        vmax = max(after, key=lambda p: p[1])
        refr.append({"delay_ms": delay, "test_onset_ms": t2, "threshold_uA_per_cm2": None,
                     "note": "no second 0 mV upward crossing even at 500 uA/cm2 (absolutely refractory)",
                     "v_at_test_onset_mV": after[0][1], "max_v_after_test_onset_at_500_mV": vmax[1],
                     "max_v_time_ms": vmax[0], "spike_times_at_500_ms": spike_times(rr["t"], rr["v"])})
        print("refractory", delay, None, vmax, flush=True)
        continue
    k, nev = grid_threshold(lambda k: two(k / 10), 0, 5000)
    thr = k / 10
    rr = run_soma([COND, (t2, 1.0, thr)], tstop, DT, gates=False)
    st = spike_times(rr["t"], rr["v"])
    refr.append({"delay_ms": delay, "test_onset_ms": t2, "threshold_uA_per_cm2": thr,
                 "below_threshold_uA_per_cm2": (k - 1) / 10, "spike_times_at_threshold_ms": st,
                 "bisection_runs": nev})
    print("refractory", delay, thr, st, flush=True)
derived["refractory"] = {"conditioning": {"del_ms": COND[0], "dur_ms": COND[1], "density_uA_per_cm2": COND[2]},
                         "test_pulse_dur_ms": 1.0, "tstop": "test onset + 41 ms",
                         "criterion": ">= 2 upward 0 mV crossings in the whole run",
                         "bisection_grid_uA_per_cm2": 0.1, "max_uA_per_cm2": 500.0,
                         "unconditioned_1ms_threshold_uA_per_cm2": [x for x in sd if x["dur_ms"] == 1.0][0]
                         ["threshold_uA_per_cm2"],
                         "results": refr}
summary["derived"] = derived

# ----------------------------------------------------------------------------------------------------------------
# Squid giant axon
# ----------------------------------------------------------------------------------------------------------------
AX_L, AX_DIAM, AX_RA, AX_CEL = 20000.0, 476.0, 35.4, 18.5
AX_DEL, AX_DUR, AX_TSTOP = 1.0, 0.5, 10.0
AX_AMP = 5000.0            # nA; the threshold for this 0.5 ms end stimulus is ~1.3 uA (computed below)
axon = h.Section(name="axon")
axon.L = AX_L
axon.diam = AX_DIAM
axon.Ra = AX_RA
axon.cm = 1.0
axon.insert("hh")


def run_axon(nseg, dt, amp, usetable=1, record=True):
    axon.nseg = nseg
    h.celsius = AX_CEL
    h.usetable_hh = usetable
    h.dt = dt
    ic = h.IClamp(axon(0.0))
    ic.delay, ic.dur, ic.amp = AX_DEL, AX_DUR, amp
    vt = h.Vector().record(h._ref_t)
    v1 = h.Vector().record(axon(0.25)._ref_v)
    v2 = h.Vector().record(axon(0.75)._ref_v)
    h.finitialize(-65.0)
    for _ in range(int(round(AX_TSTOP / dt))):
        h.fadvance()
    t, a1, a2 = list(vt), list(v1), list(v2)
    # Which segment does axon(x) refer to?  Label every segment's v with its index and read it back through x
    # (done after the run; seg.node_index() is a global node number and also counts the soma's nodes).
    for i, seg in enumerate(axon):
        seg.v = i
    i1, i2 = int(axon(0.25).v), int(axon(0.75).v)
    assert (i1, i2) == (nseg // 4, 3 * nseg // 4), (i1, i2)
    del ic
    h.usetable_hh = 1
    h.celsius = 6.3
    x1, x2 = (i1 + 0.5) / nseg, (i2 + 0.5) / nseg
    c1, c2 = spike_times(t, a1), spike_times(t, a2)
    res = {"nseg": nseg, "dt_ms": dt, "amp_nA": amp, "usetable_hh": usetable,
           "segment_index_0.25": i1, "segment_index_0.75": i2,
           "segment_centre_x_0.25": x1, "segment_centre_x_0.75": x2,
           "distance_um": (i2 - i1) * AX_L / nseg,
           "crossings_0.25_ms": c1, "crossings_0.75_ms": c2,
           "peak_0.25_mV": max(a1), "peak_0.75_mV": max(a2)}
    if c1 and c2:
        res["delta_t_ms"] = c2[0] - c1[0]
        res["velocity_m_per_s"] = res["distance_um"] / res["delta_t_ms"] * 1e-3
    else:
        res["delta_t_ms"] = res["velocity_m_per_s"] = None
    return res, (t, a1, a2)


def axon_fires(amp, nseg=2000, dt=0.025):
    res, _ = run_axon(nseg, dt, amp)
    return bool(res["crossings_0.75_ms"])


# threshold of the end stimulus (10 nA grid) for the reference discretisation, to show AX_AMP is safely above it
k_ax, nev_ax = grid_threshold(lambda k: axon_fires(10.0 * k), 0, 500)      # 10 nA grid, up to 5000 nA
ax_thr = 10.0 * k_ax
print("axon threshold nA", ax_thr, flush=True)

runs = []
for nseg, dts in ((1000, (0.025, 0.01)), (2000, (0.025, 0.01, 0.005)), (4000, (0.025, 0.01))):
    for dt in dts:
        res, tr = run_axon(nseg, dt, AX_AMP)
        runs.append(res)
        print("axon", nseg, dt, res["velocity_m_per_s"], flush=True)
        if nseg == 2000 and dt == 0.025:
            axon_trace = write_csv("axon_nseg2000_dt0.025.csv", "time_ms,v_mV@0.25,v_mV@0.75", list(tr))
            res["trace"] = axon_trace
extra = []
for amp in (AX_AMP / 2, 2000.0):          # robustness: the velocity hardly depends on the amplitude
    res, _ = run_axon(2000, 0.025, amp)
    extra.append(res)
res, _ = run_axon(2000, 0.025, AX_AMP, usetable=0)
extra.append(res)
for amp in (100.0, 200.0):                # the amplitudes first suggested are far below threshold
    res, _ = run_axon(2000, 0.025, amp)
    extra.append(res)

summary["axon"] = {
    "L_um": AX_L, "diam_um": AX_DIAM, "Ra_ohm_cm": AX_RA, "cm_uF_per_cm2": 1.0, "celsius_degC": AX_CEL,
    "usetable_hh": 1, "mechanism": "hh",
    "stimulus": {"site_x": 0.0, "site": "IClamp at axon(0): the zero-area node at the x=0 end",
                 "del_ms": AX_DEL, "dur_ms": AX_DUR, "amp_nA": AX_AMP},
    "tstop_ms": AX_TSTOP, "recorded": ["axon(0.25)", "axon(0.75)"],
    "velocity_definition": "distance between recorded segment centres / difference of first 0 mV upward "
                           "crossing times (linearly interpolated)",
    "threshold_amp_nA_nseg2000_dt0.025": ax_thr,
    "threshold_search": {"grid_nA": 10.0, "criterion": "axon(0.75) crosses 0 mV", "runs": nev_ax},
    "runs": runs,
    "extra_runs": extra,
}

with open(os.path.join(HERE, "neuron_summary.json"), "w", newline="\n") as f:
    json.dump(summary, f, indent=1, allow_nan=False)
    f.write("\n")
print("wrote", os.path.join(HERE, "neuron_summary.json"))
