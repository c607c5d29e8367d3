# The virtual board's hardware, for the MicroPython unix port standing in for a board: a step
# generator that follows each plan exactly (pumpsim's motor model), a clock whose ticks wrap at
# 2**30 like a board's (starting a minute before the wrap, so wrap bugs show at once) and can
# run faster than real time, the serial line as a TCP port, files in the board's own root
# directory for storage, and a button, buzzer, battery and watchdog that only record. Fault
# injection (issue 5) goes through these objects, never through `if SIM` in the firmware.
import asyncio
import json
import os
import sys
import time

from pump.core import Plan
from pumphw import ticks
from pumpsim.motor import VirtualMotor

_START = ticks.PERIOD - 60000


class Motor:
    def __init__(self):
        self._m = VirtualMotor()
        self.blocked = False          # fault injection: the rotor does not turn

    def load(self, plan):
        self._m.load(plan)

    def take(self, now_s):
        """(steps issued since the last call, steps the rotor really made)."""
        n = self._m.advance_to(now_s)
        return n, 0 if self.blocked else n

    def stop(self):
        self._m.load(Plan())


class Store:
    """Files in the board's root; each written whole, then renamed over the old one."""

    def load_counters(self):
        try:
            with open("counters.json") as f:
                return json.load(f)
        except OSError:
            return None

    def save_counters(self, high_water):
        with open("counters.tmp", "w") as f:
            json.dump(list(high_water), f)
        os.rename("counters.tmp", "counters.json")


class Hal:
    def __init__(self, hw, tcp_port, speed=1):
        self.hw = hw
        self.speed = speed
        self.watchdog_ms = hw.watchdog_ms
        self.motor = Motor()
        self.store = Store()
        self.tone_hz = 0
        self.pressed = False          # fault injection / demos: the patient button
        self.battery_mv = 3900
        self.fed = 0
        self._real0 = time.ticks_ms()
        self._port = tcp_port
        self._rx = bytearray()
        self._rx_ready = asyncio.Event()
        self._writer = None
        self._server = None

    def ticks_ms(self):
        real = time.ticks_diff(time.ticks_ms(), self._real0)
        return ticks.add(_START, real * self.speed)

    async def sleep_ms(self, pump_ms):
        await asyncio.sleep_ms(pump_ms // self.speed)

    # ---- the serial line: one host at a time, like a UART ----

    async def _host(self, reader, writer):
        if self._writer is not None:
            self._writer.close()
        self._writer = writer
        while True:
            try:
                data = await reader.read(256)
            except OSError:
                data = b""
            if not data:
                break
            self._rx.extend(data)
            self._rx_ready.set()
        if self._writer is writer:
            self._writer = None
        writer.close()

    async def link_read(self):
        if self._server is None:
            self._server = await asyncio.start_server(self._host, "127.0.0.1", self._port)
            print("virtual board: link on 127.0.0.1:" + str(self._port))
        await self._rx_ready.wait()
        self._rx_ready.clear()
        data = bytes(self._rx)
        self._rx[:] = b""
        if 3 in data:
            raise KeyboardInterrupt     # a bare 0x03 is Ctrl-C, as on a board's USB line
        return data

    def link_write(self, data):
        w = self._writer
        if w is not None:
            try:
                w.write(data)
            except OSError:
                self._writer = None

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

    def fatal(self, exc):
        sys.print_exception(exc)
