# Virtual step generator and reservoir. The motor carries out a Plan exactly as the PIO/RMT
# generator on a board does: step j at the instant phase + rate * (t - t0) reaches j, never more
# than plan.steps. It answers "how many steps by t" with arithmetic, so a segment of any length
# costs O(1). The reservoir holds the true volume; the core only ever sees steps.


class VirtualMotor:
    def __init__(self):
        self.t0_s = 0
        self.rn = 0
        self.rd = 1
        self.pn = 0
        self.pd = 1
        self.limit = 0
        self.issued_in_plan = 0
        self.total_steps = 0

    def load(self, plan):
        """Take over a new plan; steps of the old one not yet issued are dropped."""
        self.t0_s = plan.t0_s
        self.rn, self.rd = plan.rate_num, plan.rate_den
        self.pn, self.pd = plan.phase_num, plan.phase_den
        self.limit = plan.steps
        self.issued_in_plan = 0

    def advance_to(self, t_s):
        """Run to t_s; returns the steps issued since the last call."""
        if self.rn == 0 or self.limit == 0:
            return 0
        due = (self.pn * self.rd + self.rn * (t_s - self.t0_s) * self.pd) // (self.pd * self.rd)
        due = min(due, self.limit)
        new = due - self.issued_in_plan
        self.issued_in_plan = due
        self.total_steps += new
        return new


class VirtualReservoir:
    def __init__(self, volume_nl):
        self.volume_nl = volume_nl

    def draw(self, steps, nl_per_step):
        self.volume_nl -= steps * nl_per_step
