# The virtual board's hardware, for the MicroPython unix port standing in for a board: a step
# generator that follows each plan exactly (pumpsim's motor model), a clock whose ticks wrap at
# 2**30 like a board's (starting a minute before the wrap, so wrap bugs show at once) and can
# run faster than real time ($VBOARD_SPEED), the serial line on stdin/stdout (a pseudo-terminal
# the supervisor, pumpsim.vboard, exposes as a TCP port, REPL included), files in the board's
# own root directory for storage, and a button, buzzer, battery and watchdog that only
# record. Fault injection (issue 5) goes through these objects, never `if SIM` in firmware.
import asyncio
import os
import sys
import time

from pump.core import Plan
from pumphw import ticks
from pumphw.stdio import StdioLink
from pumphw.store import FileStore
from pumpsim.motor import VirtualMotor

_START = ticks.PERIOD - 60000


class Motor:
    def __init__(self):
        self._m = VirtualMotor()
        self.blocked = False          # fault injection: the rotor does not turn

    def load(self, plan, since_t0_ms=0):
        self._m.load(plan)          # the model counts whole pump seconds, like the core

    def take(self, now_s):
        """(steps issued since the last call, steps the rotor really made)."""
        n = self._m.advance_to(now_s)
        return n, 0 if self.blocked else n

    def stop(self):
        self._m.load(Plan())


class Hal:
    def __init__(self, hw, board):
        self.hw = hw
        self.speed = int(os.getenv("VBOARD_SPEED") or 1)
        self.watchdog_ms = hw.watchdog_ms
        self.motor = Motor()
        self.store = FileStore()
        self.tone_hz = 0
        self.pressed = False          # fault injection / demos: the patient button
        self.battery_mv = 3900
        self.fed = 0
        self._real0 = time.ticks_ms()
        self._link = StdioLink(awaitable_stdin=False)

    def background(self, checkin):
        return ()

    def ticks_ms(self):
        real = time.ticks_diff(time.ticks_ms(), self._real0)
        return ticks.add(_START, real * self.speed)

    async def sleep_ms(self, pump_ms):
        await asyncio.sleep_ms(pump_ms // self.speed)

    # ---- the serial line: stdin/stdout, shared with the REPL as on a board's USB ----

    async def link_read(self):
        return await self._link.read()

    def link_write(self, data):
        self._link.write(data)

    # ---- the rest of the board ----

    def buzzer(self, hz):
        self.tone_hz = hz

    def button(self):
        return 0 if self.pressed else 1

    def battery_u16(self):
        hw = self.hw
        return self.battery_mv * hw.divider_den * 65535 // (hw.divider_num * 3300)

    def feed_watchdog(self):
        self.fed += 1

    def stop_for_repl(self):
        self.motor.stop()

    def reset_was_watchdog(self):
        return False                 # the virtual board's watchdog only counts feeds

    def rtc_s(self):
        return None                  # its clock starts again at every boot, as after a power cut

    def alarm_forever(self):
        print("virtual board: the application could not start; critical alarm")

    def fatal(self, exc):
        sys.print_exception(exc)
