"""What a run did, for reports: a recorder the simulator calls each time the motor takes a plan
(`Simulation(..., recorder=Recorder(end_s))`). CPython only (fractions, f-strings).

The event-driven engine jumps from plan to plan, so the recorder keeps each plan and answers
"steps issued by instant t" the way the step generator places them (pumpsim.motor: step j
where phase + rate * (t - t0) reaches j, never more than the plan's steps), and "programmed by
t" the way the core's integral advances (pump.exact), at any instant inside the plan. From that
it keeps, in memory bounded by the number of bins (at most MAX_BINS, whatever the length):

- per time bin: steps and ug programmed and delivered, and the least and greatest error
  (programmed - delivered, steps) at the instants the clock visited, as the summary measures;
- the cumulative programmed and delivered steps at every bin edge;
- the reservoir (the pump's estimate and the truth) once per bin and on each side of a jump;
- the low and empty thresholds when they change; spans when delivery was stopped;
- boluses given, refused (with the reason), aborted, alarms, refills, stops, restarts;
- power cuts: the span the power was off (programmed and delivered frozen through it, from the
  engine's `recorder.cut` hook), and the step the restored count makes at the restart;
- programmed and delivered steps, exactly, every 30 s through the second hour (the trumpet
  curve, IEC 60601-2-24).

Times here are the simulator's true seconds (the pump's clock lags them after a reboot that
lost the clock: `lag_s`, true - pump, at the end). "Programmed" is the pump's own count (its
integral, what the summary's programmed_nl reads); a restart restores it from the checkpoint,
so it steps there (`jumps`); the bins hold only what was programmed while the power was on.
"""
from collections import deque
from fractions import Fraction

from pump import codes

MAX_BINS = 1500
# bin widths, s: the smallest that keeps a run within MAX_BINS
BIN_LADDER = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
TRUMPET_FROM_S = 3600       # the second hour of the run
TRUMPET_TO_S = 7200
TRUMPET_SAMPLE_S = 30
MAX_EVENTS = 100_000        # a longer log is cut (the count of those dropped is kept)
KEPT = {codes.E_PROGRAMME, codes.E_BOLUS_START, codes.E_BOLUS_REFUSED, codes.E_BOLUS_ABORTED,
        codes.E_ALARM, codes.E_ALARM_ACK, codes.E_ALARM_CLEAR, codes.E_ALARM_SILENCE,
        codes.E_REFILL, codes.E_REFILL_REJECTED, codes.E_STOP, codes.E_RESUME, codes.E_FAULT,
        codes.E_RESTORED, codes.E_STATE_LOST}


def bin_width_s(end_s):
    for w in BIN_LADDER:
        if -(-end_s // w) <= MAX_BINS:
            return w
    return 86400 * -(-end_s // (86400 * MAX_BINS))      # whole days beyond four years


class _Segment:
    """One plan as the motor took it at true time t_s, with the core's integral then."""
    __slots__ = ("t_s", "lag", "t0", "rn", "rd", "pn", "pd", "limit", "steps", "whole",
                 "num", "den", "conc")

    def __init__(self, t_s, pump, steps, conc):
        p = pump.plan
        i = pump.integral
        self.t_s = t_s
        self.lag = t_s - pump.now_s
        self.t0 = p.t0_s
        self.rn, self.rd = p.rate_num, p.rate_den
        self.pn, self.pd = p.phase_num, p.phase_den
        self.limit = p.steps
        self.steps = steps
        self.whole, self.num, self.den = i.whole, i.num, i.den
        self.conc = conc

    def delivered(self, t_s):
        """Motor steps issued by true time t_s (pumpsim.motor's rule)."""
        if self.rn == 0 or self.limit == 0:
            return self.steps
        due = (self.pn * self.rd + self.rn * (t_s - self.lag - self.t0) * self.pd) // \
            (self.pd * self.rd)
        return self.steps + min(due, self.limit)

    def programmed(self, t_s):
        """The programmed steps by t_s, exact, as (num, den): the core's integral."""
        x = self.num * self.rd + self.rn * (t_s - self.t_s) * self.den
        d = self.den * self.rd
        if self.rn and x // d > self.limit:     # the plan ran out: the core pins it there
            return self.whole + self.limit, 1
        return self.whole * d + x, d

    def programmed_f(self, t_s):
        n, d = self.programmed(t_s)
        return n / d


class _Off:
    """The power is off from t_s: nothing is issued, nothing programmed (the core is not
    running), until the restart's plan."""
    __slots__ = ("t_s", "steps", "prog", "conc")

    def __init__(self, t_s, steps, prog, conc):
        self.t_s = t_s
        self.steps = steps
        self.prog = prog                        # (num, den)
        self.conc = conc

    def delivered(self, t_s):
        return self.steps

    def programmed(self, t_s):
        return self.prog

    def programmed_f(self, t_s):
        return self.prog[0] / self.prog[1]


class Recorder:
    """Call it as recorder(t_s, pump, motor_steps, true_reservoir_nl); read the fields after the
    run (`finish()` first). `progress`, if given, is called with the true time at each call."""

    def __init__(self, end_s, board, progress=None):
        self.end_s = end_s
        self.nl_per_step = board.nl_per_step
        self.bin_s = bin_width_s(end_s)
        n = -(-end_s // self.bin_s)
        self.n_bins = n
        self.prog_steps = [0.0] * n     # programmed steps in each bin
        self.deliv_steps = [0] * n
        self.prog_ug = [0.0] * n        # at the reservoir's concentration
        self.deliv_ug = [0.0] * n
        self.err_lo = [None] * n        # programmed - delivered, steps, at visited instants
        self.err_hi = [None] * n
        self.edges = []                 # (t_s, programmed steps, delivered steps) per edge
        self.reservoir = []             # (t_s, estimate nL, true nL)
        self.thresholds = []            # (t_s, low nL, empty nL) when they change
        self.stopped = []               # [start_s, end_s or None] while not delivering
        self.events = []                # (t_s, code, a, b), true time
        self.events_dropped = 0
        self.trumpet = []               # (t_s, delivered steps, programmed Fraction)
        self.max_err = (0, 1)           # worst |programmed - delivered| visited, (num, den)
        self.records = 0
        self.lag_s = 0
        self.restarts = []              # (power cut or last plan before, restart) true times
        self.off = []                   # [cut_s, restart_s or None]: the power was off
        self.jumps = []                 # (restart_s, programmed before, after, delivered)
        self._progress = progress
        self._pump = None
        self._seq = 0
        self._seen = set()              # the last records read (a restart re-delivers them)
        self._seen_q = deque(maxlen=1024)
        self._seg = None
        self._base = 0
        self._conc = 0
        self._res_bin = -1
        self._last_res = None
        self._acc = (0, 0.0, 0)         # accounting point: (t_s, programmed, delivered)
        self._next_edge = self.bin_s
        tr = []
        if end_s >= TRUMPET_TO_S:
            tr = list(range(TRUMPET_FROM_S, TRUMPET_TO_S + 1, TRUMPET_SAMPLE_S))
        self._tr = tr
        self._tr_i = 0
        self.edges.append((0, 0.0, 0))

    # ---- the hook ----

    def __call__(self, t_s, pump, steps, true_nl):
        self.records += 1
        seg = self._seg
        if seg is not None:
            self._catch_up(seg, t_s, steps)
        restart = False
        if pump is not self._pump:                  # the start, or a restart
            if self._pump is not None:
                restart = True
                self._seq = -1          # a restored log: read what was not seen (see _log)
                # (the power cut, or without the cut hook the last plan before it; restart)
                self.restarts.append((seg.t_s if seg is not None else t_s, t_s))
            self._pump = pump
            self._base = steps - pump.integral.whole
            if self.off and self.off[-1][1] is None:
                self.off[-1][1] = t_s
        prog = pump.prog
        if prog is not None:
            self._conc = prog.conc_ug_per_ml
        before = self._acc[1]
        seg = self._seg = _Segment(t_s, pump, steps, self._conc)
        self.lag_s = seg.lag            # true time - the pump's clock (after a restart)
        self._acc = (t_s, seg.programmed_f(t_s), steps)
        if restart:                     # the restored count steps from where it froze
            self.jumps.append((t_s, before, self._acc[1], steps))
        self._error(t_s, pump, steps)
        self._reservoir(t_s, pump.reservoir_nl, true_nl)
        if prog is not None and (not self.thresholds or
                                 self.thresholds[-1][1:] != (prog.low_nl, prog.empty_nl)):
            self.thresholds.append((t_s, prog.low_nl, prog.empty_nl))
        delivering = pump.delivering()
        if self.stopped and self.stopped[-1][1] is None:
            if delivering:
                self.stopped[-1][1] = t_s
        elif not delivering:
            self.stopped.append([t_s, None])
        self._log(pump, seg.lag)
        if self._progress is not None:
            self._progress(t_s)

    def cut(self, t_s, off_s):
        """The engine's hook: the power is cut at true time t_s (the motor stopped there) for
        off_s. Delivery and the programme freeze until the restart."""
        seg = self._seg
        if seg is None:
            return
        self._catch_up(seg, t_s, None)
        _, p, d = self._acc
        n, den = seg.programmed(t_s)
        self._seg = _Off(t_s, d, (n, den), seg.conc)
        if not self.off or self.off[-1][1] is not None:
            self.off.append([t_s, None])

    def finish(self, t_s=None):
        """Close the last bins at the end of the run (its true time)."""
        t_s = self.end_s if t_s is None else t_s
        seg = self._seg
        if seg is not None and t_s >= seg.t_s:
            self._catch_up(seg, t_s, None)
            p, d = self._acc[1], self._acc[2]
            if not self.edges or self.edges[-1][0] != t_s:
                self.edges.append((t_s, p, d))
        if self._last_res is not None and self.reservoir[-1] != self._last_res:
            self.reservoir.append(self._last_res)
        return self

    # ---- internals ----

    def _catch_up(self, seg, t_s, cap):
        """The previous plan ran from seg.t_s to t_s: sample bin edges and the trumpet's
        instants on the way, and account for the bins. cap: the motor's real count at t_s
        (a power cut stops it short of its plan)."""
        tr = self._tr
        while True:
            edge = self._next_edge
            tt = tr[self._tr_i] if self._tr_i < len(tr) else None
            nxt = edge if tt is None or edge <= tt else tt
            if nxt > t_s or nxt > self.end_s:
                break
            d = seg.delivered(nxt)
            if cap is not None and d > cap:
                d = cap
            if nxt == tt:
                n, den = seg.programmed(nxt)
                self.trumpet.append((nxt, d, Fraction(n, den)))
                self._tr_i += 1
            if nxt == edge:
                p = self._account(seg, nxt, d)
                self.edges.append((nxt, p, d))
                self._next_edge += self.bin_s
        if t_s > self._acc[0]:
            d = seg.delivered(t_s)
            if cap is not None and d > cap:
                d = cap
            self._account(seg, t_s, d)

    def _account(self, seg, t_s, delivered):
        t_a, p_a, d_a = self._acc
        p = seg.programmed_f(t_s)
        if t_s > t_a:
            b = min(t_a // self.bin_s, self.n_bins - 1)
            dp = p - p_a
            dd = delivered - d_a
            self.prog_steps[b] += dp
            self.deliv_steps[b] += dd
            ug_per_step = self.nl_per_step * seg.conc / 1e6
            self.prog_ug[b] += dp * ug_per_step
            self.deliv_ug[b] += dd * ug_per_step
        self._acc = (t_s, p, delivered)
        return p

    def _error(self, t_s, pump, steps):
        i = pump.integral
        gap = (i.whole - steps + self._base) * i.den + i.num
        e = gap / i.den
        b = min(t_s // self.bin_s, self.n_bins - 1)
        lo = self.err_lo[b]
        if lo is None or e < lo:
            self.err_lo[b] = e
        hi = self.err_hi[b]
        if hi is None or e > hi:
            self.err_hi[b] = e
        g = abs(gap)
        if g * self.max_err[1] > self.max_err[0] * i.den:
            self.max_err = (g, i.den)

    def _reservoir(self, t_s, est, true):
        point = (t_s, est, true)
        last = self._last_res
        b = t_s // self.bin_s
        if last is not None and (est > last[1] or true > last[2]):      # a refill: keep both
            if not self.reservoir or self.reservoir[-1] != last:
                self.reservoir.append(last)
            self.reservoir.append(point)
            self._res_bin = b
        elif b != self._res_bin:
            self.reservoir.append(point)
            self._res_bin = b
        self._last_res = point

    def _log(self, pump, lag):
        """New log records. After a restart the log holds what the checkpoint kept from
        before it (already read), then the restart's own records (the restarted alarm, the
        restore or state-lost record), numbered on from the checkpoint: records made after
        the last checkpoint were lost with the power, so their numbers come again with other
        contents. What is new is what was not seen, record by record."""
        restart = self._seq < 0
        for r in pump.log.since(max(0, self._seq)):
            if restart and r in self._seen:
                continue
            self._seen_add(r)
            seq, t, code, a, b = r
            if code in KEPT:
                if len(self.events) < MAX_EVENTS:
                    self.events.append((t + lag, code, a, b))
                else:
                    self.events_dropped += 1
        self._seq = pump.log.seq

    def _seen_add(self, r):
        q = self._seen_q
        if len(q) == q.maxlen:
            self._seen.discard(q[0])
        q.append(r)
        self._seen.add(r)

    # ---- derived figures ----

    def max_abs_error_steps(self):
        return self.max_err[0] / self.max_err[1]

    def trumpet_curve(self, windows_min=(2, 5, 11, 19, 31)):
        """IEC 60601-2-24's trumpet curve over the second hour (see docs/simulator.md), from
        the 30 s samples; None if the run is shorter than two hours. A restart in the second
        hour leaves it out (the pump was off and its count was restored), and so does a second
        hour with nothing programmed (no flow to take an error against): `skipped` says so."""
        for before, after in self.restarts:
            if before < TRUMPET_TO_S and after > TRUMPET_FROM_S:
                return {"skipped": "the pump was off and restarted in the second hour "
                        f"(restarted at {after} s)", "windows": []}
        tc = trumpet(self.trumpet, windows_min)
        if tc is not None and tc["programmed_steps"] <= 0:
            return {"skipped": "nothing programmed in the second hour", "windows": []}
        return tc


def trumpet(samples, windows_min=(2, 5, 11, 19, 31), sample_s=TRUMPET_SAMPLE_S):
    """samples: (t_s, delivered steps, programmed steps as a Fraction) every sample_s through
    the analysis period. For each observation window of P minutes, every window of P/S
    consecutive samples (m = (T - P)/S + 1 of them, sliding by one sample) gives the
    percentage error of what was delivered in it against what was programmed in it;
    Ep(max) and Ep(min) are the largest and least. A is the error over the whole period.
    Against a constant programmed rate r this is the standard's
    Ep = (S/P) * sum(100 (Q_i - r) / r); against a changing programme it is the error against
    the programmed delivery in each window (windows programmed nothing are left out)."""
    if len(samples) < 2:
        return None
    d = [s[1] for s in samples]
    p = [s[2] for s in samples]
    flows = [p[i] - p[i - 1] for i in range(1, len(p))]
    constant = all(f == flows[0] for f in flows) and flows[0] > 0
    period_s = samples[-1][0] - samples[0][0]
    out = {"from_s": samples[0][0], "to_s": samples[-1][0], "sample_s": sample_s,
           "constant_rate": constant,
           "rate_steps_per_s": float(flows[0] / sample_s) if constant else None,
           "programmed_steps": float(p[-1] - p[0]), "delivered_steps": d[-1] - d[0],
           "windows": []}
    total = p[-1] - p[0]
    out["mean_error_pct"] = float(100 * ((d[-1] - d[0]) - total) / total) if total else None
    for w in windows_min:
        n = w * 60 // sample_s
        m = (period_s - w * 60) // sample_s + 1
        errs = []
        bound = None
        for j in range(m):
            prog = p[j + n] - p[j]
            if prog <= 0:
                continue
            errs.append(100 * ((d[j + n] - d[j]) - prog) / prog)
            one = 100 / prog                # one step in this window, %
            bound = one if bound is None or one > bound else bound
        out["windows"].append({
            "minutes": w, "windows": m, "counted": len(errs),
            "max_pct": float(max(errs)) if errs else None,
            "min_pct": float(min(errs)) if errs else None,
            "one_step_pct": float(bound) if bound is not None else None})
    return out
