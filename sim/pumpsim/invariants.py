# The safety invariants a fault campaign checks, on the truth the simulator knows and the pump
# does not: the true clock, the steps the motor really issued, the drug really left in the
# reservoir. Checked after every step of the simulation, every committed event and every
# reboot; each violation is a sentence naming the requirement (docs/safety.md). The 24 h cap
# is checked on the scenario's first programme (campaigns do not reprogramme). Integers only;
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
        self._pts = [(0, 0)]     # (true s, true nL delivered) over the last day and a bit
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
        if p is not None and pump.reservoir_nl <= p.low_nl and \
                codes.A_LOW_RESERVOIR not in pump.alarms.table:
            self._fail(sim, "SR-7", "reservoir estimate at or below low, no low alarm")
        if self.cap_nl is not None:
            self._window(sim, issued * self.nlps)

    def _window(self, sim, cum):
        t = sim.t
        pts = self._pts
        prev = pts[-1][0] if pts else None
        pts.append((t, cum))
        limit = self.cap_nl + 2 * self.nlps   # the ledger may read a step short
        if _at(pts, t) is not None:
            got = cum - _at(pts, t - DAY_S)
            if got > limit:
                self._fail(sim, "SR-4", str(got) + " nL in the 24 h to " + str(t) + " s")
        if prev is not None:
            for s, c in pts:
                e = s + DAY_S
                if prev < e < t:
                    got = _at(pts, e) - c
                    if got > limit:
                        self._fail(sim, "SR-4", str(got) + " nL in the 24 h from " + str(s))
        while len(pts) > 2 and pts[1][0] < t - DAY_S:
            pts.pop(0)

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


def _at(pts, t):
    """True nL delivered by t, on the line between the points around it (0 before them)."""
    if not pts or t < pts[0][0]:
        return 0 if pts else None
    for k in range(len(pts) - 1, -1, -1):
        s, c = pts[k]
        if s <= t:
            if k + 1 == len(pts):
                return c
            s1, c1 = pts[k + 1]
            return c + (c1 - c) * (t - s) // (s1 - s)
    return None
