# The fluid path downstream of the pump head (pump tubing and catheter), for the simulator's
# occlusion faults (issue 5; docs/occlusion.md). It decides how many of the steps the generator
# issued the rotor really made -- the evidence the board layer hands pumphw.stall (an encoder's
# count, or DIAG) -- and how much of what the head moved reached the patient. Integers only (nL,
# steps, seconds; conductance in nL per hour), O(1) per call, deterministic, no float; runs under
# CPython and the MicroPython unix port. Not board code: the firmware never sees this object,
# only the hardware misbehaving.
#
# Model: one lumped compliance discharging through one conductance.
#   stored_nl        volume held by the stretched tubing above its resting pressure.
#   compliance_nl    stored_nl at the pressure at which the head stalls (the motor's torque
#                    limit, or the StallGuard threshold). Pressure is stored_nl / compliance_nl
#                    of that stall pressure; the head cannot push the line past it, and a step
#                    that would is refused (lost, as a stepper loses it).
#   conductance      nL/h the line lets out at stall pressure; outflow = conductance * pressure.
#                    Open line: open_nl_per_s (Poiseuille: an unblocked 0.5 mm x 1 m catheter
#                    passes about 200-300 uL/s of water at 1 bar, far above any dose rate, so it
#                    stays near rest). Full occlusion: 0. Partial: in between.
# Each push() is one backward-Euler step over dt_s (outflow from the pressure at its end): exact
# as dt_s shrinks, and for any dt_s never negative, never oscillating, never above stall
# pressure. Kept in pL inside (the floor costs at most 1 pL a call); volume is conserved
# exactly in whole nL: moved_steps * nl_per_step == stored_nl + patient_nl.
#
# Wiring it into a board layer's take(now_s) (the unix HAL's Motor, the simulator's engine):
#     n = motor.advance_to(now_s); moved, out_nl = line.push(n, now_s - last_s)
#     return n, moved            # encoder evidence; DIAG: (n, n if moved == n else 0)
_S_PER_H = 3600


class VirtualLine:
    def __init__(self, nl_per_step, compliance_nl=10000, open_nl_per_s=250000):
        if nl_per_step < 1 or compliance_nl < 1 or open_nl_per_s < 0:
            raise ValueError("line: nl_per_step and compliance_nl >= 1, open_nl_per_s >= 0")
        self.nl_per_step = nl_per_step
        self.compliance_nl = compliance_nl
        self.open_nl_per_h = open_nl_per_s * _S_PER_H
        self.conductance_nl_per_h = self.open_nl_per_h
        self.stored_nl = 0           # whole nL (kept in pL inside)
        self._stored_pl = 0
        self.occluded = False
        self._k = compliance_nl * _S_PER_H
        # running totals
        self.moved_steps = 0      # steps the rotor made
        self.lost_steps = 0       # steps issued that it did not make (stalled)
        self.patient_nl = 0       # volume out of the catheter tip

    # ---- faults ----

    def occlude(self, permille_passing=0):
        """Block the line, leaving permille_passing / 1000 of the open line's conductance (0: a
        full occlusion). With the default open line even 1 permille passes 250 nL/s at stall
        pressure, above every basal rate: use restrict() for a partial occlusion that
        under-delivers at intrathecal rates."""
        if not 0 <= permille_passing <= 1000:
            raise ValueError("line: permille_passing must be 0..1000")
        self._set(self.open_nl_per_h * permille_passing // 1000)

    def restrict(self, passing_nl_per_h):
        """A partial occlusion stated by what it lets through at stall pressure, in nL/h: below
        the programmed rate the head stalls part of the time and the patient gets about
        passing_nl_per_h; above it the line only runs at a higher pressure."""
        if passing_nl_per_h < 0:
            raise ValueError("line: passing_nl_per_h must be >= 0")
        self._set(passing_nl_per_h)

    def clear(self):
        """The occlusion is relieved: the stored volume goes on to the patient (at the open
        line's conductance: within seconds) -- the bolus after occlusion."""
        self.conductance_nl_per_h = self.open_nl_per_h
        self.occluded = False

    def _set(self, nl_per_h):
        self.conductance_nl_per_h = nl_per_h
        self.occluded = nl_per_h < self.open_nl_per_h

    # ---- state ----

    def pressure_permille(self):
        """Line pressure above rest, in permille of the head's stall pressure (0..1000)."""
        return self.stored_nl * 1000 // self.compliance_nl

    # ---- time ----

    def push(self, steps, dt_s):
        """The generator issued `steps` over the last dt_s seconds. Returns (moved_steps,
        patient_nl): the steps the rotor really made (the rest were refused at stall pressure
        and are lost, as a stepper loses them) and the nL that left the catheter meanwhile."""
        if steps < 0 or dt_s < 0:
            raise ValueError("line: steps and dt_s must be >= 0")
        n = self.nl_per_step * 1000                   # pL per step
        k = self._k
        g = self.conductance_nl_per_h * dt_s          # nL*s/h let out over dt at stall pressure
        v0 = self._stored_pl
        # The most whole steps that keep the end pressure at or under stall:
        # (v0 + m n) k / (k + g) <= compliance.
        most = (self.compliance_nl * 1000 * (k + g) - v0 * k) // (n * k)
        moved = steps if steps <= most else most
        if moved < 0:
            moved = 0
        # Backward Euler, in pL so that the floor's bias (1 pL a call) is far below any rate.
        self._stored_pl = (v0 + moved * n) * k // (k + g)
        self.stored_nl = self._stored_pl // 1000
        self.moved_steps += moved
        self.lost_steps += steps - moved
        before = self.patient_nl
        # What has left the line, in whole nL: moved = stored + patient, exactly.
        self.patient_nl = self.moved_steps * self.nl_per_step - self.stored_nl
        return moved, self.patient_nl - before
