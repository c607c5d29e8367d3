# The ESP32 board layer. Wiring: docs/boards/esp32.md. STEP pulses come from the RMT
# peripheral, a batch of pulses at a time (write_pulses: a 5 us high, then the delay low, per
# step; delays longer than the RMT's 15-bit count are split into several low periods); soft
# timer callbacks on the ESP32 can lag by milliseconds, so Python never times a pulse. Steps
# issued are counted per finished batch; a new plan waits for the batch under way (at most
# 32 steps, at most a few ms at bolus rates) and the core is told those steps when they are
# done. Buzzer on PWM, button with pull-up,
# battery on ADC1 (ADC2 is taken by Wi-Fi), machine.WDT.
import asyncio
import json
import os
import sys
import time

import esp32
from machine import ADC, PWM, WDT, Pin

from pumphw.steps import StepSchedule

_PULSE_US = 5
_MAX_TICKS = 32767          # longest RMT period at 1 us per tick
_BATCH = 32                 # steps per write_pulses


class Motor:
    def __init__(self, hw):
        pins = hw.pins
        self._enable = Pin(pins["enable"], Pin.OUT, value=1)      # active low: off
        Pin(pins["dir"], Pin.OUT, value=0)
        self._diag = Pin(pins["diag"], Pin.IN) if "diag" in pins else None
        self._rmt = esp32.RMT(0, pin=Pin(pins["step"], Pin.OUT, value=0), clock_div=80)
        self._sched = StepSchedule()
        self._batch = 0             # steps in the batch being sent
        self._done = 0              # steps in finished batches, not yet taken
        self._periods = []

    def load(self, plan, since_t0_ms=0):
        # a batch under way finishes (at most _BATCH steps, counted when done); with the
        # finished ones the core has not heard of, they are the new plan's first steps
        self._sched.start(plan, since_t0_ms, self._done + self._batch)
        self._enable.value(0 if plan.steps or self._batch else 1)
        self.feed()

    def feed(self):
        """Start the next batch once the last has gone out."""
        if not self._rmt.wait_done(timeout=0):
            return
        self._done += self._batch
        self._batch = 0
        periods = self._periods
        del periods[:]
        level = []
        while self._batch < _BATCH:
            d = self._sched.next()
            if d is None:
                break
            d = d - _PULSE_US if d > _PULSE_US else 1
            while d > _MAX_TICKS:                  # a long wait: several low periods
                periods.append(_MAX_TICKS)
                level.append(0)
                d -= _MAX_TICKS
            periods += (d, _PULSE_US)
            level += (0, 1)
            self._batch += 1
        if periods:
            self._rmt.write_pulses(periods, level)

    def take(self, now_s):
        self.feed()
        n = self._done
        self._done = 0
        stalled = self._diag is not None and self._diag.value()
        return n, 0 if stalled else n

    def stop(self):
        self._rmt.loop(False)
        self._batch = 0
        self._enable.value(1)


class Store:
    """littlefs files on the module's flash; write a temporary file, then os.rename."""

    def load_counters(self):
        try:
            with open("counters.json") as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def save_counters(self, high_water):
        with open("counters.tmp", "w") as f:
            json.dump(list(high_water), f)
        os.rename("counters.tmp", "counters.json")


class Hal:
    def __init__(self, hw):
        self.hw = hw
        self.watchdog_ms = hw.watchdog_ms
        self.motor = Motor(hw)
        self.store = Store()
        self._buzzer = PWM(Pin(hw.pins["buzzer"]), freq=880, duty_u16=0)
        self._button = Pin(hw.pins["button"], Pin.IN, Pin.PULL_UP)
        adc = hw.pins.get("battery_adc")
        self._adc = ADC(Pin(adc), atten=ADC.ATTN_11DB) if adc is not None else None
        self._wdt = None
        self._reader = asyncio.StreamReader(sys.stdin)

    def background(self):
        return (self._feeder(),)

    async def _feeder(self):
        while True:
            self.motor.feed()
            await asyncio.sleep_ms(2)

    def ticks_ms(self):
        return time.ticks_ms()

    async def sleep_ms(self, ms):
        await asyncio.sleep_ms(ms)

    async def link_read(self):
        return await self._reader.read(256)

    def link_write(self, data):
        sys.stdout.buffer.write(data)

    def buzzer(self, hz):
        if hz:
            self._buzzer.freq(hz)
            self._buzzer.duty_u16(32768)
        else:
            self._buzzer.duty_u16(0)

    def button(self):
        return self._button.value()

    def battery_u16(self):
        return self._adc.read_u16() if self._adc is not None else 65535

    def feed_watchdog(self):
        if self._wdt is None:
            self._wdt = WDT(timeout=self.watchdog_ms)
        self._wdt.feed()

    def fatal(self, exc):
        sys.print_exception(exc)
