# The patient button: debounced, and only a long press asks for a bolus, so a knock or a
# brush against the pump does not. Fed the raw level and the tick at each poll (or edge);
# returns an event when one happens. Pure logic, no allocation: ISR-safe if the caller is.
from pumphw import ticks

NONE = 0
LONG_PRESS = 1      # held for hold_ms: request a patient bolus (once per press)


class Button:
    def __init__(self, debounce_ms=30, hold_ms=1500, active_low=True):
        self.debounce_ms = debounce_ms
        self.hold_ms = hold_ms
        self._active = 0 if active_low else 1
        self._raw = None
        self._raw_since = 0
        self._down = False
        self._down_since = 0
        self._fired = False
        self._armed = False          # seen released since boot: a button stuck down asks nothing

    def update(self, level, now_ms):
        """The pin's level now; LONG_PRESS once when a press has lasted hold_ms."""
        if level != self._raw:
            self._raw = level
            self._raw_since = now_ms
            return NONE
        if ticks.diff(now_ms, self._raw_since) < self.debounce_ms:
            return NONE
        down = level == self._active
        if not down:
            self._armed = True
        if down != self._down:
            self._down = down
            self._down_since = self._raw_since
            self._fired = False
        if down and self._armed and not self._fired and \
                ticks.diff(now_ms, self._down_since) >= self.hold_ms:
            self._fired = True
            return LONG_PRESS
        return NONE
