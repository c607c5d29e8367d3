"""A simulated pump served over a real byte link: a TCP socket (`socket://HOST:PORT` for
pyserial) or a pseudo-terminal, so `pumpctl` talks to it exactly as to a board. Its clock runs
at `speed` times real time; between arrivals it sleeps until the next thing is due. The pump is
the unchanged dosing core behind the unchanged link handler (pumplink). CPython only."""
import json
import os
import selectors
import socket
import time
import tty

from pump.codes import E_REFILL
from pumpctl.keys import save_counters
from pumplink.link import Link


class CounterError(ValueError):
    """The counters file is missing or unreadable: not served."""


class CounterFile:
    """The replay counters' high-water marks in a file beside the key file (made with it at
    [0, 0, 0] by pumpctl.keys.new_keys), rewritten whole on every signed command, so a served
    pump restarted with the same keys still refuses frames recorded before (the board's storage
    comes with issues 4 and 5)."""

    def __init__(self, path):
        self.path = path

    def load(self):
        """The saved marks. Without the file the keys may have been used and their counters
        lost: reset marks would accept every frame ever recorded again, so that is refused."""
        try:
            with open(self.path) as f:
                hw = json.load(f)
        except FileNotFoundError:
            raise CounterError(
                f"replay counters {self.path} missing: the key file may have been used and its "
                "counters lost, and a pump with them reset would accept every frame recorded "
                f"before. Restore {self.path}, or serve with a new key file (--keys NEW.json, "
                "made if missing)") from None
        except (OSError, ValueError) as e:
            raise CounterError(f"replay counters {self.path} unreadable ({e}); refusing to "
                               "serve with them reset: restore the file, or serve with a new "
                               "key file (--keys NEW.json, made if missing)") from None
        if not (isinstance(hw, list) and len(hw) == 3 and
                all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= 0xFFFFFFFF
                    for x in hw)):
            raise CounterError(f"replay counters {self.path}: not a list of three counters")
        return hw

    def save_counters(self, high_water):
        save_counters(self.path, high_water)


def bind_tcp(host="127.0.0.1", port=0):
    """A listening socket on host:port (0: any free port), for Served.listen."""
    return socket.create_server((host, port))


class Served:
    """sim: a pumpsim Simulation; keys {role: bytes}; store: where the replay counters live
    (CounterFile); programme_text: the JSON of the programme in force (for read-back)."""

    def __init__(self, sim, keys, device, store, high_water, programme_text, speed=1.0):
        if not 0 < speed < float("inf"):
            raise ValueError("speed must be a positive number")
        self.sim = sim
        self.speed = speed
        sim.pump.wall_base_s = 0         # a served pump knows the wall clock from hosts only
        self.link = Link(sim.pump, keys, device, store, high_water,
                         programme_text=programme_text)
        self.sel = selectors.DefaultSelector()
        self._t0 = time.monotonic()
        self._v0 = sim.pump.now_s
        sim.start(None)

    def virtual_now(self):
        return self._v0 + (time.monotonic() - self._t0) * self.speed

    def set_speed(self, speed):
        """Run the clock at `speed` from now on; the pump time reached so far stands. Call it
        from the thread running serve() (e.g. from its `stop` callback)."""
        if not 0 < speed < float("inf"):
            raise ValueError("speed must be a positive number")
        now = time.monotonic()
        self._v0 = self._v0 + (now - self._t0) * self.speed
        self._t0 = now
        self.speed = speed

    def catch_up(self):
        """Bring the pump to the present (virtual) second, then send any telemetry due."""
        now = int(self.virtual_now())
        if now > self.sim.pump.now_s:
            self.sim.advance_to(now)
        self.link.poll(self.sim.pump.now_s)

    # ---- transports ----

    def listen_tcp(self, host="127.0.0.1", port=0):
        """Listen on host:port (0: any free port); returns the pyserial URL."""
        return self.listen(bind_tcp(host, port))

    def listen(self, srv):
        """Take hosts on a listening socket (bind_tcp); returns the pyserial URL."""
        srv.setblocking(False)
        self.sel.register(srv, selectors.EVENT_READ, self._accept)
        h, p = srv.getsockname()[:2]
        return f"socket://{h}:{p}"

    def open_pty(self):
        """A pseudo-terminal in raw mode; returns the path a host opens (e.g. /dev/pts/5)."""
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._pty_slave = slave          # held open so the master never sees a hang-up
        session = self.link.session(lambda data: _write_some(master, data))
        self.sel.register(master, selectors.EVENT_READ,
                          lambda key, mask: self._read_pty(key, session))
        return os.ttyname(slave)

    MAX_HOSTS = 16

    def _accept(self, key, mask):
        try:
            sock, _ = key.fileobj.accept()
        except OSError:              # out of file descriptors, or the host gave up: go on
            return
        if len(self.link.sessions) >= self.MAX_HOSTS:
            sock.close()             # a pump has few ports; a crowd must not take it down
            return
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = _Conn(self.sel, sock)
        conn.session = self.link.session(conn.write)
        self.sel.register(sock, selectors.EVENT_READ, conn.ready)
        conn.on_data = self._feed
        conn.on_close = self.link.close

    def _read_pty(self, key, session):
        try:
            data = os.read(key.fileobj, 4096)
        except OSError:
            return
        self._feed(session, data)

    def _feed(self, session, data):
        self.catch_up()
        log = self.sim.pump.log
        before = log.seq
        session.feed(data)
        # A refill the pump accepted over the link happened at the reservoir too, as a scripted
        # refill does (Simulation._apply): the true volume becomes the volume added.
        for rec in log.since(before):
            if rec[2] == E_REFILL:
                self.sim.reservoir.volume_nl = rec[3]
        self.sim.commanded()

    # ---- the loop ----

    def serve(self, until_s=None, stop=lambda: False):
        """Run until the pump clock reaches until_s (None: forever) or stop() is true."""
        while not stop():
            self.catch_up()
            if until_s is not None and self.sim.pump.now_s >= until_s:
                return
            wait = 0.25
            due = [t for t in (self.sim.next_due_s(), self.link.next_due_s(), until_s)
                   if t is not None]
            if due:
                wait = min(wait, max(0.0, (min(due) - self.virtual_now()) / self.speed))
            for key, mask in self.sel.select(wait):
                key.data(key, mask)

    def close(self):
        for key in list(self.sel.get_map().values()):
            try:
                key.fileobj.close() if hasattr(key.fileobj, "close") else os.close(key.fileobj)
            except OSError:
                pass
        self.sel.close()


class _Conn:
    """One host's socket. Never blocks the pump: what the host has not yet read waits in a
    bounded buffer, and past OUT_LIMIT further output is dropped, as a UART drops bytes nobody
    reads, so one slow or stuck host cannot stall the pump or the other hosts."""
    OUT_LIMIT = 1 << 16

    def __init__(self, sel, sock):
        self.sel = sel
        self.sock = sock
        self.out = bytearray()
        self.dropped = 0
        self.open = True

    def write(self, data):
        if len(self.out) + len(data) > self.OUT_LIMIT:
            self.dropped += len(data)
            return
        self.out += data
        self._flush()

    def _flush(self):
        try:
            n = self.sock.send(self.out)
            del self.out[:n]
        except BlockingIOError:
            pass
        except OSError:
            self.close()
            return
        if self.open:
            self.sel.modify(self.sock, selectors.EVENT_READ |
                            (selectors.EVENT_WRITE if self.out else 0), self.ready)

    def ready(self, key, mask):
        if mask & selectors.EVENT_WRITE:
            self._flush()
        if self.open and mask & selectors.EVENT_READ:
            try:
                data = self.sock.recv(4096)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if data:
                self.on_data(self.session, data)
            else:
                self.close()

    def close(self):
        if self.open:
            self.open = False
            self.sel.unregister(self.sock)
            self.sock.close()
            self.on_close(self.session)


def _write_some(fd, data):
    """Like a UART with nobody listening: what the terminal cannot take is lost."""
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except OSError:
            return
        view = view[n:]
