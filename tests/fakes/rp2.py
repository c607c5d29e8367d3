"""A CPython stand-in for MicroPython's `rp2` module, modelling pumphw.rp2's PIO program cycle
by cycle at 1 MHz: each word is (wait << 1) | step; a step word pulses STEP 4 cycles after
its pull, then waits wait + 1 cycles; a wait-only word waits. The test sets NOW (us)."""
NOW = [0]


class PIO:
    OUT_LOW = 0
    JOIN_TX = 1
    SHIFT_RIGHT = 1


def asm_pio(**kw):
    return lambda f: f


class StateMachine:
    def __init__(self, i, prog, freq=None, sideset_base=None):
        self.fifo = []
        self.on = False
        self.t = 0              # when the state machine is free to pull
        self.pulses = []        # rising edges, us

    def _run(self):
        while self.on and self.fifo and max(self.t, self.fifo[0][1]) <= NOW[0]:
            word, put_at = self.fifo.pop(0)
            step, wait = word & 1, word >> 1
            start = max(self.t, put_at)
            if step:
                self.pulses.append(start + 4)
                self.t = start + wait + 8
            else:
                self.t = start + wait + 5

    def active(self, v=None):
        self._run()
        if v is not None:
            if v and not self.on:
                self.t = max(self.t, NOW[0])
            self.on = bool(v)
        return self.on

    def tx_fifo(self):
        self._run()
        return len(self.fifo)

    def put(self, v):
        self._run()
        if len(self.fifo) >= 8:
            raise AssertionError("put() on a full FIFO would block the event loop")
        self.fifo.append((v, NOW[0]))

    def exec(self, ins):
        if ins == "pull(noblock)" and self.fifo:
            self.fifo.pop(0)

    def restart(self):
        self.t = min(self.t, NOW[0])        # the word under way is abandoned
