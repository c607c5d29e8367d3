# Plays the core's alarm tone patterns (pump.alarms TONE_*: (Hz, on ms, off ms) pulses, the
# burst repeating) on a buzzer: at each call, the frequency to sound now (0: silent) and how
# long until that changes, so the annunciation task sleeps exactly that long. A new pattern
# starts from its first pulse. No allocation.
from pumphw import ticks


class TonePlayer:
    def __init__(self):
        self._pattern = ()
        self._start = 0
        self._total = 0

    def at(self, pattern, now_ms):
        """(frequency Hz or 0, ms until it changes; 0 if it never does)."""
        if pattern is not self._pattern:
            self._pattern = pattern
            self._start = now_ms
            total = 0
            for _, on, off in pattern:
                total += on + off
            self._total = total
        if not self._total:
            return 0, 0
        pos = ticks.diff(now_ms, self._start) % self._total
        for hz, on, off in self._pattern:
            if pos < on:
                return hz, on - pos
            pos -= on
            if pos < off:
                return 0, off - pos
            pos -= off
        return 0, 1
