# Plays the core's alarm tone patterns (pump.alarms TONE_*: (Hz, on ms, off ms) pulses, the
# burst repeating) on a buzzer: at each call, the frequency to sound now (0: silent) and how
# long until that changes, so the annunciation task sleeps exactly that long. A new pattern
# starts from its first pulse. No allocation (ISR-safe).
from pumphw import ticks


class TonePlayer:
    def __init__(self):
        self._pattern = ()
        self._start = 0
        self._total = 0
        self.hz = 0                  # what to sound now (0: silent)

    def update(self, pattern, now_ms):
        """Set self.hz for now; returns ms until it changes (0 if it never does). Index loops
        and no tuple returned: nothing allocated, so a timer interrupt may call it."""
        if pattern is not self._pattern:
            self._pattern = pattern
            self._start = now_ms
            total = 0
            for i in range(len(pattern)):
                total += pattern[i][1] + pattern[i][2]
            self._total = total
        self.hz = 0
        if not self._total:
            return 0
        pos = ticks.diff(now_ms, self._start) % self._total
        for i in range(len(pattern)):
            hz, on, off = pattern[i]
            if pos < on:
                self.hz = hz
                return on - pos
            pos -= on
            if pos < off:
                return off - pos
            pos -= off
        return 1
