# Motor stall or occlusion from the hardware's own evidence: a TMC2209's DIAG (StallGuard)
# line, or a DC pump's encoder, disagreeing with the steps the generator issued. Fed after each
# control cycle (a second on a board) with the steps issued since the last call and how many
# the rotor made. A cycle that issued no step is no evidence of a stall (an encoder's late
# count in it is credited to the cycles before: the rotor turned).
# Three criteria, counted in steps and cycles, never in seconds, so none of them waits longer
# at a low rate than the evidence itself takes to arrive (docs/occlusion.md):
#   blocked  `confirm` cycles in a row that issued steps of which the rotor made none. A refused
#            step is the motor's direct evidence, so this needs only a few: `confirm` cycles at
#            1 step/s and above, `confirm` steps below. Counted in cycles because DIAG is one
#            sample per cycle: one glitch is one cycle, never an alarm.
#   volume   stall_steps (the board's driver.stall_steps) unmoved while no cycle made all of
#            its steps: the most a fast bolus may lose (one cycle at 3200 steps/s is 3200), and
#            what an encoder that sees the rotor creep at a fraction of its steps adds up to.
#   short    over the last `window` cycles that issued steps, short_permille or more of those
#            steps unmoved (net: an encoder's late count pays its lag back): a partial
#            occlusion that lets the rotor through between stalls, seen as DIAG on some cycles
#            only.
# Each reports once; then the evidence starts again. The app raises the critical alarm, which
# stops delivery and latches until acknowledged; after that delivery retries, and a rotor still
# blocked is reported again after `confirm` more cycles. confirm=0 and window=0 switch those
# two off (volume alone was the first version's criterion). No allocation after construction:
# the window is two preallocated lists, and the counts stay small ints.


class StallDetector:
    def __init__(self, stall_steps, confirm=3, window=16, short_permille=250):
        self.stall_steps = stall_steps
        self.confirm = confirm
        self.window = window
        self.short_permille = short_permille
        self._suspect = 0              # steps unmoved since a cycle last made all of its own
        self._blocked = 0              # cycles in a row with steps and no movement
        self._issued = [0] * window    # per cycle in the window (a ring)
        self._moved = [0] * window
        self._at = 0                   # next slot of the ring
        self._n = 0                    # cycles in the ring since the last report (<= window)
        self._sum_issued = 0
        self._sum_moved = 0
        self.last = 0                  # what the last report was: 1 blocked, 2 volume, 3 short

    def update(self, steps_issued, moved_steps):
        """steps_issued since the last call and how many of them the rotor really made (the
        encoder's count, or steps_issued when DIAG is quiet, 0 when it is asserted). True once
        when a criterion is met (which one: self.last)."""
        if steps_issued <= 0:
            if moved_steps > 0:
                self._late(moved_steps)
            return False
        missing = steps_issued - moved_steps
        if missing > 0:
            self._suspect += missing
        else:
            self._suspect = 0          # the rotor made them all: the evidence resets
        if moved_steps <= 0:
            self._blocked += 1
        else:
            self._blocked = 0
        w = self.window
        if w:
            i = self._at
            if self._n == w:           # the ring is full: the oldest cycle leaves it
                self._sum_issued -= self._issued[i]
                self._sum_moved -= self._moved[i]
            else:
                self._n += 1
            self._issued[i] = steps_issued
            self._moved[i] = moved_steps
            self._sum_issued += steps_issued
            self._sum_moved += moved_steps
            self._at = i + 1 if i + 1 < w else 0
        if self.confirm and self._blocked >= self.confirm:
            return self._report(1)
        if self._suspect >= self.stall_steps:
            return self._report(2)
        if w and self._n == w and (self._sum_issued - self._sum_moved) * 1000 >= \
                self.short_permille * self._sum_issued:
            return self._report(3)
        return False

    def _late(self, moved):
        """An encoder's count arriving in a cycle after its steps (none issued in this one):
        the rotor turned, and it pays back the shortfall it left in the window."""
        self._blocked = 0
        self._suspect = self._suspect - moved if self._suspect > moved else 0
        if self.window and self._n:
            i = self._at - 1 if self._at else self.window - 1
            self._moved[i] += moved
            self._sum_moved += moved

    def _report(self, why):
        self.last = why
        self._suspect = 0
        self._blocked = 0
        self._n = 0                    # stale slots are overwritten before they count again
        self._sum_issued = 0
        self._sum_moved = 0
        return True
