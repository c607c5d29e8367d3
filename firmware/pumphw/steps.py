# The delays between a plan's steps for a hardware step generator that takes one delay per
# step (the RP2040's PIO): step j falls at t0 + (j - phase) / rate exactly as the core's plan
# says (pump.core.Plan; the simulator's motor places steps the same way), each delay rounded
# so the steps never run ahead of the plan, and never closer than the motor's top speed allows
# (a late step is caught up at that speed, not in a burst the rotor would miss). by(t) says
# how many steps the plan places up to t: the board layer tells the core only those, and
# carries steps pulsed after a second's boundary into the next plan as its first ones, so no
# step is issued twice and none is lost when the control loop runs late. Called from a task,
# never an interrupt: on a 32-bit port the products below are big integers, which allocate.


class StepSchedule:
    def __init__(self):
        self.left = 0

    def start(self, plan, since_t0_ms, already=0, min_gap_us=0):
        """A new plan, loaded since_t0_ms after its t0 (the pump clock counts whole seconds;
        the board is partway into one). `already`: steps the generator issued since t0 that
        the core has not been told of yet; they are the plan's first steps, so a plan
        reloaded within its second (after a command) never issues them twice."""
        self.rn, self.rd = plan.rate_num, plan.rate_den
        self.pn, self.pd = plan.phase_num, plan.phase_den
        self.gap = min_gap_us
        self.t0_s = plan.t0_s
        self.steps = plan.steps if plan.rate_num else 0
        self.left = self.steps - already
        self.j = already
        self.at_us = since_t0_ms * 1000          # the instant the last delay ended

    def by(self, t_s):
        """Steps the plan places at or before t_s (whole pump seconds)."""
        if not self.steps:
            return 0
        n = (self.pn * self.rd + self.rn * (t_s - self.t0_s) * self.pd) // (self.pd * self.rd)
        return min(max(n, 0), self.steps)

    def next(self):
        """Microseconds from the previous step (or from loading) to the next one; None when
        the plan has no step left."""
        if self.left <= 0:
            return None
        self.j += 1
        self.left -= 1
        num = (self.j * self.pd - self.pn) * self.rd * 1000000
        den = self.pd * self.rn
        t_us = -(-num // den)                    # ceil: never ahead of the plan
        delay = t_us - self.at_us
        if delay < self.gap:
            delay = self.gap                     # late: catch up at the motor's top speed
        self.at_us += delay
        return delay


class StepAccount:
    """What the core is told of the steps a generator pulsed. The port hands in a running
    total of steps pulsed (never decreasing). Steps pulsed after a second's boundary are told
    with the next plan, as its first steps, whatever that plan is (a stop included): nothing
    pulsed goes untold and nothing is told twice. Steps the plan places are told no earlier
    than the second it places them; carried-over steps are told at once, since they happened."""

    def __init__(self):
        self._base = 0          # pulsed total when the plan was loaded
        self._already = 0       # the plan's first steps, pulsed under the one before
        self._reported = 0      # steps of this plan told so far

    def _pulsed(self, total):
        return self._already + total - self._base

    def load(self, total):
        """A new plan; returns the steps it starts with (pulsed, not yet told)."""
        carried = self._pulsed(total) - self._reported
        self._already = carried
        self._base = total
        self._reported = 0
        return carried

    def take(self, total, planned_by_now):
        """Steps to tell the core at a second whose boundary the plan had placed
        planned_by_now steps by."""
        limit = planned_by_now if planned_by_now > self._already else self._already
        n = min(self._pulsed(total), limit) - self._reported
        self._reported += n
        return n

    def pending(self, total):
        """Pulsed, not yet told."""
        return self._pulsed(total) - self._reported
