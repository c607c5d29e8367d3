# What the RP2040 and ESP32 board layers share: buzzer on PWM, patient button with pull-up,
# the watchdog (armed at boot by pumphw.bootwdt, taken over by the application, handed back
# on Ctrl-C), the serial line on USB (pumphw.stdio), files (pumphw.store), the board's own
# ticks and sleeps, and a feeder task topping up the step generator. A port module subclasses
# it with its Motor, its battery reading and its boot timer.
import asyncio
import sys
import time

from machine import PWM, WDT, WDT_RESET, Pin, reset_cause

from pumphw import bootwdt
from pumphw.stdio import StdioLink
from pumphw.store import FileStore


class BoardHal:
    FEED_MS = 1              # how often the feeder tops up the step generator
    TIMER_ID = -1            # the boot watchdog's timer

    def __init__(self, hw, motor):
        self.hw = hw
        self.watchdog_ms = hw.watchdog_ms
        self.motor = motor
        self.store = FileStore()
        self._buzzer = PWM(Pin(hw.pins["buzzer"]))
        self._buzzer.duty_u16(0)
        self._button = Pin(hw.pins["button"], Pin.IN, Pin.PULL_UP)
        self._wdt = None
        self._link = StdioLink(awaitable_stdin=True)

    def background(self, checkin):
        return (self._feeder(checkin),)

    async def _feeder(self, checkin):
        while True:
            self.motor.feed()
            checkin(16)
            await asyncio.sleep_ms(self.FEED_MS)

    def ticks_ms(self):
        return time.ticks_ms()

    async def sleep_ms(self, ms):
        await asyncio.sleep_ms(ms)

    async def link_read(self):
        return await self._link.read()

    def link_write(self, data):
        self._link.write(data)

    def buzzer(self, hz):
        if hz:
            self._buzzer.freq(hz)
            self._buzzer.duty_u16(32768)
        else:
            self._buzzer.duty_u16(0)

    def button(self):
        return self._button.value()

    def feed_watchdog(self):
        if self._wdt is None:          # the application takes the feeding over from boot.py
            bootwdt.disarm()
            self._wdt = WDT(timeout=self.watchdog_ms)
        self._wdt.feed()

    def stop_for_repl(self):
        """Ctrl-C: motor off, and the boot timer feeds the watchdog again."""
        self.motor.stop()
        bootwdt.arm(self.TIMER_ID)

    def reset_was_watchdog(self):
        return reset_cause() == WDT_RESET

    def rtc_s(self):
        """The RTC's seconds: it survives a watchdog or soft reset, not a power cut (it then
        starts again from its epoch, reading earlier than any checkpoint, which recovery takes
        as unknown). It only moves the schedule on (pump.snapshot), never the dose clocks."""
        return time.time()

    def fatal(self, exc):
        sys.print_exception(exc)

    def alarm_forever(self):
        """The application could not start: motor off, the critical tone until someone
        comes (the boot timer keeps the watchdog fed, so no silent reboot loop)."""
        from pump.alarms import TONE_CRITICAL
        from pumphw.tones import TonePlayer
        self.motor.stop()
        player = TonePlayer()
        while True:
            left = player.update(TONE_CRITICAL, time.ticks_ms())
            self.buzzer(player.hz)
            time.sleep_ms(left or 100)
