# Motor stall or occlusion from the hardware's own evidence: a TMC2209's DIAG (StallGuard)
# line, or a DC pump's encoder, disagreeing with the steps the generator issued. Counted in
# steps, not time, so what reaches the alarm is a volume: stall_steps steps that did not move
# the rotor. It reports each stall once; the app raises the critical alarm, which stops
# delivery and latches until acknowledged; after that delivery retries, and a rotor still
# blocked is reported again after another stall_steps. Fed after each control cycle; no
# allocation.


class StallDetector:
    def __init__(self, stall_steps):
        self.stall_steps = stall_steps
        self._suspect = 0

    def update(self, steps_issued, moved_steps):
        """steps_issued since the last call and how many of them the rotor really made (the
        encoder's count, or steps_issued when DIAG is quiet, 0 when it is asserted). True once
        when stall_steps have gone unmoved."""
        missing = steps_issued - moved_steps
        if missing > 0:
            self._suspect += missing
        elif steps_issued > 0:
            self._suspect = 0          # the rotor turned: the evidence resets
        if self._suspect >= self.stall_steps:
            self._suspect = 0
            return True
        return False
