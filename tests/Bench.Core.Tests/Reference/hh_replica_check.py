#!/usr/bin/python3
"""Executable specification of NEURON's fixed-step hh update, checked against the NEURON traces.

Needs only the Python standard library (no NEURON).  Run:  /usr/bin/python3 hh_replica_check.py
It re-implements, step by step, what NEURON 8.2.2 does for one compartment with `hh` + IClamp (secondorder = 0)
and prints the largest difference from every hh_*.csv.gz trace written by neuron_reference.py.

One fadvance (t -> t + dt), as in nrn_fixed_step_thread / nrn_fixed_step_lastpart (src/nrnoc/fadvance.cpp):
  1. t += dt/2.
  2. Currents at the *old* v and gates (setup_tree_matrix -> nrn_cur of each mechanism):
       hh:     i(v) = gnabar m^3 h (v-ena) + gkbar n^4 (v-ek) + gl (v-el)        [mA/cm2]
               g    = (i(v + 0.001) - i(v)) / 0.001                              [nocmodl's numerical di/dv]
       IClamp: i_stim = amp if del <= t < del+dur else 0  (t is the mid-step time), times 1e2/area -> mA/cm2
     rhs = i_stim - i(v);   d = 1e-3*cm/dt + g         (cm in uF/cm2, dt in ms; 1e-3 = cfac unit factor)
  3. Solve (one node: dv = rhs/d) and v += dv.                       -> linearly implicit (backward) Euler in v
  4. t += dt/2.
  5. nrn_state at the *new* v: rates(v) (table or formulas), then for x in m, h, n (cnexp):
       x = x + (1 - exp(-dt/xtau)) * (xinf - x)
     (nocmodl writes it as x + (1. - exp(dt*((-1.0)/xtau)))*(-(xinf/xtau)/((-1.0)/xtau) - x); copied verbatim.)
  6. Vector.record samples t, v, m, h, n.
"""

import glob
import gzip
import json
import math
import os

HERE = os.path.dirname(os.path.abspath(__file__))
GNABAR, GKBAR, GL, EL, ENA, EK, CM = 0.12, 0.036, 0.0003, -54.3, 50.0, -77.0, 1.0


def vtrap(x, y):
    if abs(x / y) < 1e-6:
        return y * (1 - x / y / 2)
    return x / (math.exp(x / y) - 1)


def rates_exact(v, celsius):
    """hh.mod PROCEDURE rates, evaluated directly (usetable_hh = 0). Returns (minf, mtau, hinf, htau, ninf, ntau)."""
    q10 = 3 ** ((celsius - 6.3) / 10)
    a = .1 * vtrap(-(v + 40), 10)
    b = 4 * math.exp(-(v + 65) / 18)
    s = a + b
    mtau, minf = 1 / (q10 * s), a / s
    a = .07 * math.exp(-(v + 65) / 20)
    b = 1 / (math.exp(-(v + 35) / 10) + 1)
    s = a + b
    htau, hinf = 1 / (q10 * s), a / s
    a = .01 * vtrap(-(v + 55), 10)
    b = .125 * math.exp(-(v + 65) / 80)
    s = a + b
    ntau, ninf = 1 / (q10 * s), a / s
    return (minf, mtau, hinf, htau, ninf, ntau)


class Table:
    """nocmodl TABLE ... FROM -100 TO 100 WITH 200: 201 nodes built with x += dx, linear interpolation, clamped."""

    def __init__(self, celsius):
        self.tmin, tmax = -100.0, 100.0
        dx = (tmax - self.tmin) / 200.
        self.mfac = 1. / dx
        self.rows = []
        x = self.tmin
        for _ in range(201):
            self.rows.append(rates_exact(x, celsius))
            x += dx

    def __call__(self, v):
        xi = self.mfac * (v - self.tmin)
        if xi <= 0.:
            return self.rows[0]
        if xi >= 200.:
            return self.rows[200]
        i = int(xi)
        th = xi - i
        lo, hi = self.rows[i], self.rows[i + 1]
        return tuple(lo[k] + th * (hi[k] - lo[k]) for k in range(6))


def simulate(pulses, tstop, dt, celsius, usetable, area=100.0):
    rates = Table(celsius) if usetable else (lambda v: rates_exact(v, celsius))
    v = -65.0
    minf, mtau, hinf, htau, ninf, ntau = rates(v)
    m, hh, n = minf, hinf, ninf
    t = 0.0
    out = [(t, v, m, hh, n)]
    cfac = .001 / dt
    for _ in range(int(round(tstop / dt))):
        t += .5 * dt
        istim = 0.0
        for (d, dur, j) in pulses:
            amp = j / 1000.0                       # nA on the 100 um2 compartment
            if t < d + dur and t >= d:
                istim += amp * (1.e2 / area)       # mA/cm2

        def cur(vv):
            gna = GNABAR * m * m * m * hh
            gk = GKBAR * n * n * n * n
            return gna * (vv - ENA) + gk * (vv - EK) + GL * (vv - EL)
        g = cur(v + .001)
        rhs = cur(v)
        g = (g - rhs) / .001
        dv = (istim - rhs) / (cfac * CM + g)
        v += dv
        t += .5 * dt
        minf, mtau, hinf, htau, ninf, ntau = rates(v)
        m = m + (1. - math.exp(dt * ((-1.0) / mtau))) * (-(minf / mtau) / ((-1.0) / mtau) - m)
        hh = hh + (1. - math.exp(dt * ((-1.0) / htau))) * (-(hinf / htau) / ((-1.0) / htau) - hh)
        n = n + (1. - math.exp(dt * ((-1.0) / ntau))) * (-(ninf / ntau) / ((-1.0) / ntau) - n)
        out.append((t, v, m, hh, n))
    return out


def main():
    with open(os.path.join(HERE, "neuron_summary.json")) as f:
        cases = json.load(f)["cases"]
    worst = 0.0
    for name, c in sorted(cases.items()):
        if not c["trace"]:
            continue
        with gzip.open(os.path.join(HERE, c["trace"]["file"]), "rt") as f:
            next(f)
            ref = [tuple(float(x) for x in line.split(",")) for line in f]
        pulses = [(s["del_ms"], s["dur_ms"], s["density_uA_per_cm2"]) for s in c["stimuli"]]
        sim = simulate(pulses, c["tstop_ms"], c["dt_ms"], c["celsius_degC"], c["usetable_hh"])
        assert len(sim) == len(ref)
        dmax = [max(abs(a[k] - b[k]) for a, b in zip(sim, ref)) for k in range(5)]
        exact = sum(1 for a, b in zip(sim, ref) if a == b)
        worst = max(worst, dmax[1])
        print("%-40s max|dt|=%.3g max|dv|=%.3g mV max|dm|=%.3g max|dh|=%.3g max|dn|=%.3g  rows bit-identical %d/%d"
              % (name, dmax[0], dmax[1], dmax[2], dmax[3], dmax[4], exact, len(ref)))
    print("worst |dv| = %.3g mV" % worst)


if __name__ == "__main__":
    main()
