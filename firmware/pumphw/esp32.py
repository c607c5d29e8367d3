# The ESP32 board layer. Wiring: docs/boards/esp32.md. Written for the board and compiled by
# mpy-cross here; run against a stand-in RMT in tests/test_esp32_board_layer.py, not yet on an
# ESP32. Soft timer callbacks on the ESP32 can lag by milliseconds, so Python never times a
# pulse: the RMT does. Only the steps due within the next HORIZON_US are handed to it, as one
# sequence (a low lead, then per step a 5 us high and the low gap to the next), so a sequence
# under way never outlives a stop by more than that horizon, a long wait is never an RMT
# sequence (no memory blow-up, no 15-bit overflow), and steps can only come late, never early.
# Steps count as pulsed once their sequence is handed to the RMT (it goes out within the
# horizon); pumphw.steps.StepAccount decides what the core is told. Buzzer on PWM, button
# with pull-up, battery on ADC1 (ADC2 is taken by Wi-Fi) read in microvolts, machine.WDT.
import time

import esp32
from machine import ADC, Pin

from pumphw.boardhal import BoardHal
from pumphw.steps import StepAccount, StepSchedule

HORIZON_US = 20000          # steps due further ahead wait for a later sequence
_PULSE_US = 5
_MAX_STEPS = 64             # steps in one sequence


class Motor:
    def __init__(self, hw, board):
        pins = hw.pins
        self._enable = Pin(pins["enable"], Pin.OUT, value=1)      # active low: off
        Pin(pins["dir"], Pin.OUT, value=0)
        self._diag = Pin(pins["diag"], Pin.IN, Pin.PULL_UP) if "diag" in pins else None
        self._rmt = esp32.RMT(0, pin=Pin(pins["step"], Pin.OUT, value=0), clock_div=80)
        self._gap = 1000000 // board.max_steps_per_s
        self._sched = StepSchedule()
        self._account = StepAccount()
        self._done = 0              # steps in finished sequences, since boot
        self._sending = 0           # steps in the sequence under way
        self._next_us = None        # when the next step is due (us since the plan's t0)
        self._last_real = None      # ticks_us of the last step sent
        self._load_us = 0           # ticks_us at load, and how far into the plan that was
        self._load_at = 0
        self._periods = []
        self._levels = []

    def _now_us(self):
        """Microseconds since the plan's t0, now."""
        return self._load_at + time.ticks_diff(time.ticks_us(), self._load_us)

    def _collect(self):
        if self._sending and self._rmt.wait_done(timeout=0):
            self._done += self._sending
            self._sending = 0

    def pulsed(self):
        """Steps pulsed or under way: a sequence handed to the RMT goes out within
        HORIZON_US (a stop turns ENABLE off first, so the count errs towards more drug
        delivered, the safe side for the reservoir and the caps)."""
        self._collect()
        return self._done + self._sending

    def load(self, plan, since_t0_ms=0):
        # a sequence under way (at most HORIZON_US) finishes; with the steps pulsed after the
        # last boundary, its steps are the new plan's first ones
        already = self._account.load(self.pulsed())
        self._load_us = time.ticks_us()
        self._load_at = since_t0_ms * 1000
        self._sched.start(plan, since_t0_ms, already, self._gap)
        self._enable.value(0 if plan.steps or self._sending else 1)
        d = self._sched.next()
        self._next_us = None if d is None else self._sched.at_us
        self.feed()

    def feed(self):
        """Send the steps due within the horizon once the last sequence is done."""
        self._collect()
        if self._sending or self._next_us is None:
            return
        now = self._now_us()
        if self._next_us - now > HORIZON_US:
            return
        periods = self._periods
        levels = self._levels
        del periods[:]
        del levels[:]
        # a step goes out at its planned time, or, if that has passed (a late feeder), at the
        # motor's top speed after the one before: late steps catch up, none comes early
        at = max(self._next_us, now + 1)
        if self._last_real is not None:
            last = self._load_at + time.ticks_diff(self._last_real, self._load_us)
            at = max(at, last + self._gap)
        periods.append(at - now)
        levels.append(0)
        n = 0
        while True:
            periods.append(_PULSE_US)
            levels.append(1)
            n += 1
            prev = at
            if self._sched.next() is None:
                self._next_us = None
                break
            self._next_us = self._sched.at_us
            if n == _MAX_STEPS or self._next_us - now > HORIZON_US:
                break
            at = max(self._next_us, at + self._gap)
            periods.append(at - prev - _PULSE_US)
            levels.append(0)
        self._last_real = time.ticks_add(self._load_us, prev - self._load_at)
        self._sending = n
        self._rmt.write_pulses(periods, levels)

    def take(self, now_s):
        """(steps told to the core for the second now_s, steps the rotor made)."""
        self.feed()
        n = self._account.take(self.pulsed(), self._sched.by(now_s))
        stalled = self._diag is not None and not self._diag.value()
        return n, 0 if stalled else n

    def stop(self):
        self._enable.value(1)       # first: no step reaches the motor
        self._next_us = None


class Hal(BoardHal):
    FEED_MS = 2
    TIMER_ID = 0             # the ESP32 has hardware timers 0-3, no virtual one

    def __init__(self, hw, board):
        super().__init__(hw, Motor(hw, board))
        adc = hw.pins.get("battery_adc")
        self._adc = ADC(Pin(adc), atten=ADC.ATTN_11DB) if adc is not None else None

    def battery_u16(self):
        """The ADC's calibrated microvolts, as a 3.3 V-full-scale u16 (what Battery takes)."""
        if self._adc is None:
            return 65535
        return min(65535, self._adc.read_uv() * 65535 // 3300000)
