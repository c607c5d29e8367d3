# The safety invariants a fault campaign checks, on the truth the simulator knows and the pump
# does not: the true clock, the steps the motor really issued, the drug really left in the
# reservoir. Checked after every step of the simulation, every committed event and every
# reboot; each violation is a sentence naming the requirement (docs/safety.md). The 24 h cap
# is checked on the scenario's first programme (campaigns do not reprogramme) against the steps
# the motor issued (a line that stores volume releases it later: docs/occlusion.md). Integers only;
# runs under CPython and the MicroPython unix port.
from pump import codes
from pump.checkpoint import LOST

DAY_S = 86400
_MAX_KEPT = 20          # violations kept (the count goes on)


class Invariants:
    def __init__(self, board, programme):
        self.nlps = board.nl_per_step
        conc = programme.get("concentration_ug_per_ml")
        cap = programme.get("max_ug_per_24h")
        self.cap_nl = cap * 1000000 // conc if isinstance(cap, int) and \
            isinstance(conc, int) and conc > 0 else None
        pb = programme.get("patient_bolus")
        self.lockout_s = pb["lockout_min"] * 60 if isinstance(pb, dict) else None
        self.per_day = pb["max_per_24h"] if isinstance(pb, dict) else None
        self.violations = []
        self.count = 0
        self._ts = [0]           # true s and true nL issued by then, over the last day or so
        self._cs = [0]
        self._lo = 0             # the first point a window can still reach
        self._starts = []        # true start times of patient boluses
        self._offset = 0         # steps a pump that lost its state never knew of

    def _fail(self, sim, sr, text):
        self.count += 1
        if len(self.violations) < _MAX_KEPT:
            self.violations.append(sr + " at " + str(sim.t) + " s: " + text)

    def after_step(self, sim):
        pump = sim.pump
        truth = sim.reservoir.volume_nl
        if pump.reservoir_nl > truth:
            self._fail(sim, "SR-5", "reservoir estimate " + str(pump.reservoir_nl) +
                       " nL above the true " + str(truth) + " nL")
        issued = sim.motor.total_steps
        if pump.steps + self._offset < issued:
            self._fail(sim, "SR-24", "pump counts " + str(pump.steps + self._offset) +
                       " steps, the motor issued " + str(issued))
        p = pump.prog
        if p is not None and p.mode != codes.MODE_STOPPED and \
                min(pump.reservoir_nl, truth) <= p.low_nl and \
                codes.A_LOW_RESERVOIR not in pump.alarms.table:
            self._fail(sim, "SR-7", "reservoir at or below low, no low alarm")
        self.cut(sim)

    def cut(self, sim):
        """A point of the truth now (after each step, and at a power cut, before the time
        off, so the steps before it are not spread over the outage)."""
        if self.cap_nl is not None:
            self._window(sim, sim.motor.total_steps * self.nlps)

    def _window(self, sim, cum):
        """SR-4 on the truth: every 24 h window of what the motor issued, those ending now and
        those that started at a point and ended since the last one (delivery is linear
        between points, so the largest window starts or ends at one)."""
        t = sim.t
        ts, cs = self._ts, self._cs
        prev = ts[-1]
        ts.append(t)
        cs.append(cum)
        limit = self.cap_nl + 2 * self.nlps   # the ledger may read a step short
        got = cum - self._at(t - DAY_S)
        if got > limit:
            self._fail(sim, "SR-4", str(got) + " nL in the 24 h to " + str(t) + " s")
        k = _first_after(ts, self._lo, prev - DAY_S)
        while k < len(ts) and ts[k] < t - DAY_S:
            got = self._at(ts[k] + DAY_S) - cs[k]
            if got > limit:
                self._fail(sim, "SR-4", str(got) + " nL in the 24 h from " + str(ts[k]))
            k += 1
        while self._lo + 1 < len(ts) and ts[self._lo + 1] < t - DAY_S:
            self._lo += 1
        if self._lo > 4096:                   # forget what no window can reach any more
            del ts[:self._lo]
            del cs[:self._lo]
            self._lo = 0

    def _at(self, t):
        """True nL issued by t, on the line between the points around it."""
        ts, cs = self._ts, self._cs
        if t < ts[self._lo]:
            return 0                          # before the run began
        k = _first_after(ts, self._lo, t) - 1
        if k + 1 == len(ts):
            return cs[k]
        return cs[k] + (cs[k + 1] - cs[k]) * (t - ts[k]) // (ts[k + 1] - ts[k])

    def event(self, sim, t, code, a, b):
        if code != codes.E_BOLUS_START or a != codes.BOLUS_PATIENT:
            return
        starts = self._starts
        if self.lockout_s is not None and starts and t - starts[-1] < self.lockout_s:
            self._fail(sim, "SR-2", "patient boluses " + str(t - starts[-1]) +
                       " s apart, lockout " + str(self.lockout_s) + " s")
        starts.append(t)
        while starts and starts[0] <= t - DAY_S:
            starts.pop(0)
        if self.per_day is not None and len(starts) > self.per_day:
            self._fail(sim, "SR-3", str(len(starts)) + " patient boluses in 24 h")

    def after_reboot(self, sim, how):
        pump = sim.pump
        table = pump.alarms.table
        if codes.A_RESTARTED not in table and codes.A_MEMORY not in table:
            self._fail(sim, "SR-26", "a restart raised no alarm")
        if how == LOST:
            self._offset = sim.motor.total_steps - pump.steps


def _first_after(ts, lo, t):
    """The first index from lo whose time is above t (binary search; no bisect module on
    MicroPython)."""
    hi = len(ts)
    while lo < hi:
        mid = (lo + hi) // 2
        if ts[mid] <= t:
            lo = mid + 1
        else:
            hi = mid
    return lo
