# The Raspberry Pi Pico (RP2040) board layer. Wiring: docs/boards/pico.md. The only module
# (with esp32.py) that touches hardware; the logic it feeds is tested off the board.
# - STEP pulses come from a PIO state machine that takes one delay (us) per step from its TX
#   FIFO (joined: 8 deep): a flash write, which stalls the CPU on the RP2040, cannot stretch a
#   pulse, and the steps issued are exactly the delays the PIO has taken. A task keeps the
#   FIFO filled from pumphw.steps; if it falls behind, steps come late (under-delivery the
#   core sees and makes up), never early. A DMA ring would remove that task (next step).
# - The TMC2209's DIAG line, when wired, marks steps as not turning the rotor (stall).
# - Buzzer on PWM; patient button with pull-up; battery on an ADC; machine.WDT.
# No allocation in interrupt context: nothing here runs in one.
import asyncio
import json
import os
import sys
import time

import rp2
from machine import ADC, PWM, WDT, Pin

from pumphw.steps import StepSchedule

_PIO_HZ = 1000000           # one PIO cycle per microsecond
_PULSE_US = 5               # cycles spent per step outside the delay loop


@rp2.asm_pio(set_init=rp2.PIO.OUT_LOW, fifo_join=rp2.PIO.JOIN_TX)
def _step_program():
    pull(block)             # noqa: F821 (PIO assembler names)
    mov(x, osr)             # noqa: F821
    label("delay")          # noqa: F821
    jmp(x_dec, "delay")     # noqa: F821
    set(pins, 1)[2]         # noqa: F821
    set(pins, 0)            # noqa: F821


class Motor:
    def __init__(self, hw):
        pins = hw.pins
        self._enable = Pin(pins["enable"], Pin.OUT, value=1)      # active low: off
        Pin(pins["dir"], Pin.OUT, value=0)                         # one direction only
        self._diag = Pin(pins["diag"], Pin.IN) if "diag" in pins else None
        self._sm = rp2.StateMachine(0, _step_program, freq=_PIO_HZ,
                                    set_base=Pin(pins["step"], Pin.OUT, value=0))
        self._sched = StepSchedule()
        self._pushed = 0
        self._taken = 0
        self._sm.active(1)

    def _drain(self):
        """Drop the delays still queued (a new plan replaces them)."""
        self._sm.active(0)
        while self._sm.tx_fifo():
            self._sm.exec("pull(noblock)")
            self._pushed -= 1
        self._sm.restart()

    def load(self, plan, since_t0_ms=0):
        self._drain()
        # steps issued since the core last heard (this second): the new plan's first ones
        already = self._pushed - self._taken
        self._sched.start(plan, since_t0_ms, already)
        self._enable.value(0 if plan.steps else 1)
        self._sm.active(1)
        self.feed()

    def feed(self):
        """Top up the PIO's queue; called often by the feeder task."""
        sm = self._sm
        while sm.tx_fifo() < 8:
            d = self._sched.next()
            if d is None:
                return
            sm.put(d - _PULSE_US if d > _PULSE_US else 0)
            self._pushed += 1

    def take(self, now_s):
        """(steps issued since the last call, steps the rotor made by DIAG's account)."""
        self.feed()
        issued = self._pushed - self._sm.tx_fifo()
        n = issued - self._taken
        self._taken = issued
        stalled = self._diag is not None and self._diag.value()
        return n, 0 if stalled else n

    def stop(self):
        self._drain()
        self._enable.value(1)


class Store:
    """littlefs files on the Pico's flash; write a temporary file, then os.rename (atomic)."""

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
        self._buzzer = PWM(Pin(hw.pins["buzzer"]))
        self._buzzer.duty_u16(0)
        self._button = Pin(hw.pins["button"], Pin.IN, Pin.PULL_UP)
        self._adc = ADC(Pin(hw.pins["battery_adc"])) if "battery_adc" in hw.pins else None
        self._wdt = None
        self._reader = asyncio.StreamReader(sys.stdin)

    def background(self):
        return (self._feeder(),)

    async def _feeder(self):
        while True:
            self.motor.feed()
            await asyncio.sleep_ms(1)

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
        if self._wdt is None:          # started at the first healthy feed, not at boot
            self._wdt = WDT(timeout=self.watchdog_ms)
        self._wdt.feed()

    def fatal(self, exc):
        sys.print_exception(exc)
