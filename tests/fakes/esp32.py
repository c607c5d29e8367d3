"""A CPython stand-in for MicroPython's esp32.RMT, at 1 us per tick: write_pulses(durations,
levels) plays the sequence from the current time; a rising edge is a step. The test sets
rp2.NOW (the shared clock, us)."""
from rp2 import NOW


class RMT:
    def __init__(self, channel, pin=None, clock_div=80):
        self.pulses = []
        self.busy_until = 0

    def wait_done(self, timeout=0):
        return NOW[0] >= self.busy_until

    def write_pulses(self, durations, levels):
        if NOW[0] < self.busy_until:
            raise AssertionError("write_pulses while a sequence is under way")
        t = NOW[0]
        for d, level in zip(durations, levels):
            if not 1 <= d <= 32767:
                raise AssertionError("RMT period out of range: %d" % d)
            if level:
                self.pulses.append(t)
            t += d
        self.busy_until = t
