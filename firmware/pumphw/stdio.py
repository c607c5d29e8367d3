# The serial line on sys.stdin / sys.stdout: USB-CDC on a Pico or the USB-UART bridge on an
# ESP32 (shared with the REPL, as mpremote expects), a pseudo-terminal on the virtual board.
# Bytes, never text: sys.stdin.buffer (sys.stdin would turn \r into \n and hand back str), and
# whatever has arrived is returned at once rather than waiting for a full buffer, so the
# event loop never stalls on the link. A bare 0x03 is Ctrl-C, as a board's kbd_intr has it
# (frames never carry one): KeyboardInterrupt stops the application for the REPL.
import asyncio
import select
import sys

_CHUNK = 256


class StdioLink:
    def __init__(self, awaitable_stdin=True):
        """awaitable_stdin: the port's asyncio can wait on stdin (boards); the unix port's
        cannot, so it polls every 2 ms."""
        self._poll = select.poll()
        self._poll.register(sys.stdin, select.POLLIN)
        self._reader = asyncio.StreamReader(sys.stdin.buffer) if awaitable_stdin else None
        self._rx = bytearray(_CHUNK)

    async def read(self):
        """The bytes that have arrived (waits for the first)."""
        n = 0
        if self._reader is not None:
            first = await self._reader.read(1)
            if first:
                n = self._put(0, first[0])
        else:
            while not self._poll.poll(0):
                await asyncio.sleep_ms(2)
        read = sys.stdin.buffer.read
        while n < _CHUNK and self._poll.poll(0):
            b = read(1)
            if not b:
                break
            n = self._put(n, b[0])
        return bytes(self._rx[:n])

    def _put(self, n, b):
        if b == 3:
            raise KeyboardInterrupt
        self._rx[n] = b
        return n + 1

    def write(self, data):
        sys.stdout.buffer.write(data)
