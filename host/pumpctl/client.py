"""The host's end of the link: open a pump by pyserial URL (`/dev/ttyACM0`, `socket://host:port`,
`loop://`), ask it things and send it signed commands. Every failure raises a typed error:
NoDevice, Timeout, Refused (with the pump's reason), Mismatch (another protocol or schema, or a
read-back that differs), NoKey. Replies are matched to requests by sequence number; telemetry
the pump pushes by itself is kept in `pushes` for `monitor`."""
import collections
import os
import struct
import time

import serial

from pump.names import REASON_NAMES
from pumpwire import reasons
from pumpwire.auth import CLINICIAN, PATIENT, ROLE_NAMES
from pumpwire.crc import crc32
from pumpwire.frame import FLAG_PUSH, VERSION, Parser, pack, pack_signed
from pumpwire.messages import BY_ID, BY_NAME, CHUNK, PUMP, SCHEMA

DEFAULT_TIMEOUT_S = 2.0


class LinkError(Exception):
    """Anything that went wrong talking to a pump."""


class NoDevice(LinkError):
    pass


class Timeout(LinkError):
    pass


class Mismatch(LinkError):
    pass


class NoKey(LinkError):
    pass


class BadValue(ValueError):
    """A value that does not fit its field: nothing was sent."""


class Refused(LinkError):
    """The pump answered nak: nothing changed. `reason` is the code, `reason_name` its word."""

    def __init__(self, msg_name, reason, detail=0, field="", why=""):
        self.msg_name = msg_name
        self.reason = reason
        self.reason_name = reason_name(reason)
        self.detail = detail
        self.field = field
        self.why = why
        self.hint = ""           # what the reason means here, if the caller can say
        text = f"pump refused {msg_name}: {self.reason_name}"
        if field or why:
            text += f" ({field + ': ' if field else ''}{why})"
        super().__init__(text)


def reason_name(code):
    if code >= reasons.FIRST and code - reasons.FIRST < len(reasons.NAMES):
        return reasons.NAMES[code - reasons.FIRST]
    if code < len(REASON_NAMES):
        return REASON_NAMES[code]
    return f"reason {code}"


def _failed(url, what, e):
    """'URL: read failed: why', whether or not pyserial's message says 'read failed' already."""
    msg = str(e) or type(e).__name__
    return f"{url}: {msg}" if msg.startswith(what + " failed") else f"{url}: {what} failed: {msg}"


def text(field):
    """A zero-padded text field as str."""
    return field.rstrip(b"\0").decode("utf-8", "replace")


Frame = collections.namedtuple("Frame", "name seq flags fields")


class Client:
    """keys: {role: key bytes} for signed commands (None: read-only); device: the pump those
    keys belong to (from the key file): a pump answering with another name is a Mismatch, so a
    clinician holding one patient's keys is told when plugged into another's pump."""

    def __init__(self, url, keys=None, timeout=DEFAULT_TIMEOUT_S, device=None):
        try:
            self.port = serial.serial_for_url(url, baudrate=115200, timeout=0.01,
                                              write_timeout=timeout)
        except (serial.SerialException, ValueError, OSError) as e:
            raise NoDevice(f"cannot open {url}: {e}") from None
        self.url = url
        self.device = device
        self.keys = keys or {}
        self.timeout = timeout
        self.pushes = collections.deque(maxlen=1000)
        self._inbox = collections.deque()
        self._parser = Parser(self._on_frame)
        self._seq = int.from_bytes(os.urandom(2), "little")
        self._counter = {}
        self.info = None

    def close(self):
        self.port.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- frames ----

    def _on_frame(self, msg_id, flags, seq, payload):
        m = BY_ID[msg_id]
        if PUMP not in m[4]:
            return          # our own frames echoed (loop://) or another host's
        if len(payload) != m[7]:
            return
        f = Frame(m[1], seq, flags, dict(zip(m[3], struct.unpack(m[2], payload))))
        (self.pushes if flags & FLAG_PUSH else self._inbox).append(f)

    def _next_seq(self):
        self._seq = (self._seq + 1) & 0xFFFF
        return self._seq

    def _send(self, frame):
        try:
            self.port.write(frame)
            self.port.flush()
        except (serial.SerialException, OSError) as e:
            raise LinkError(_failed(self.url, "write", e)) from None

    def _read(self):
        """Parse whatever the port has (it waits at most its short read timeout)."""
        try:
            data = self.port.read(4096)
        except (serial.SerialException, OSError) as e:
            raise LinkError(_failed(self.url, "read", e)) from None
        if data:
            self._parser.feed(data)

    def poll(self, wait_s):
        """Read whatever arrives within wait_s."""
        end = time.monotonic() + wait_s
        while True:
            self._read()
            if time.monotonic() >= end:
                return

    def _exchange(self, frame, seq, name, until):
        """Send a frame; collect the replies carrying seq until one named in `until`."""
        self._send(frame)
        got = []
        end = time.monotonic() + self.timeout
        while True:
            while self._inbox:
                f = self._inbox.popleft()
                if f.seq != seq:
                    continue        # a stale reply to an earlier request
                got.append(f)
                if f.name in until:
                    return got
            left = end - time.monotonic()
            if left <= 0:
                raise Timeout(f"{self.url}: no answer to {name} within {self.timeout:g} s")
            self._read()

    def request(self, name, *values, until=None):
        """A read-only request; returns its replies (the last one named in `until`)."""
        seq = self._next_seq()
        try:
            frame = pack(name, seq, *values)
        except (struct.error, OverflowError) as e:
            raise BadValue(f"{name}: a value is out of range ({e})") from None
        got = self._exchange(frame, seq, name, until or ("nak",))
        self._check(name, got)
        return got

    def command(self, name, *values, role=CLINICIAN, until=("ack",)):
        """A signed command; returns its replies. Never resent by itself: a `replay` nak may
        mean the link delivered this very frame twice and the first copy acted, and a timeout
        that the command acted but its answer was lost. Both say so; the caller checks the
        pump's log before trying again."""
        key = self.keys.get(role)
        if key is None:
            raise NoKey(f"no {ROLE_NAMES[role]} key: {name} needs one (--keys FILE)")
        counter = self._next_counter(role)
        seq = self._next_seq()
        try:
            frame = pack_signed(name, seq, key, role, counter, *values,
                                device=self.info["device"])
        except (struct.error, OverflowError) as e:
            raise BadValue(f"{name}: a value is out of range ({e})") from None
        try:
            got = self._exchange(frame, seq, name, tuple(until) + ("nak",))
        except Timeout as e:
            raise Timeout(f"{e}; it may have acted: check `pumpctl log` before resending") \
                from None
        last = got[-1]
        self._check(name, got)
        if last.name == "ack" and last.fields["msg"] != BY_NAME[name][0]:
            raise Mismatch(f"{name}: the pump acknowledged message {last.fields['msg']} instead")
        return got

    def _next_counter(self, role):
        """One above both this host's last counter and the pump's mark, read by hello just
        before: another host holding the same key may have signed commands meanwhile, and a
        counter at or below the mark would be refused as a replay. (Reading the mark is a
        request, safe to repeat; the command itself is sent once.)"""
        h = self.hello()
        mark = h["patient_counter" if role == PATIENT else "clinician_counter"]
        counter = max(self._counter.get(role, 0), mark) + 1
        if counter > 0xFFFFFFFF:
            raise LinkError(f"the pump's {ROLE_NAMES[role]} counter is exhausted: provision "
                            "new keys")
        self._counter[role] = counter
        return counter

    def _check(self, name, got):
        last = got[-1]
        if last.name == "nak":
            check = [f for f in got if f.name == "programme_check"]
            field = text(check[0].fields["field"]) if check else ""
            why = text(check[0].fields["why"]) if check else ""
            raise Refused(name, last.fields["reason"], last.fields["detail"], field, why)

    # ---- requests ----

    def hello(self):
        """The pump's versions, ids and counters; raises Mismatch for another message table."""
        try:
            f = self.request("hello_request", VERSION, SCHEMA, until=("hello",))[-1].fields
        except Timeout:
            raise Timeout(f"{self.url}: no answer to hello within {self.timeout:g} s: not a "
                          "pump, a port another program is using, or a pump speaking another "
                          f"protocol version (this host speaks {VERSION})") from None
        if f["protocol"] != VERSION or f["schema"] != SCHEMA:
            raise Mismatch(f"pump speaks protocol {f['protocol']} schema {f['schema']:#010x}; "
                           f"this host {VERSION} schema {SCHEMA:#010x}")
        f["board"] = text(f["board"])
        f["device"] = text(f["device"])
        if self.device is not None and f["device"] != self.device:
            raise Mismatch(f"{self.url} is pump '{f['device']}', but the key file is for pump "
                           f"'{self.device}': wrong pump or wrong key file")
        self.info = f
        return f

    def status(self):
        return self.request("status_request", until=("status",))[-1].fields

    def link_stats(self):
        return self.request("link_stats_request", until=("link_stats",))[-1].fields

    def telemetry(self, period_s):
        self.request("telemetry", period_s, until=("ack",))

    def log(self, from_seq=0, most=32):
        """(records, end): records from from_seq on (up to `most`), end = log_end fields."""
        got = self.request("log_request", from_seq, most, until=("log_end",))
        return [f.fields for f in got if f.name == "log_record"], got[-1].fields

    def log_all(self, from_seq=0):
        """Every record from from_seq to the newest, batch by batch; end of the last batch."""
        out = []
        while True:
            records, end = self.log(from_seq)
            out += records
            if not records or end["next_seq"] >= end["log_seq"]:
                return out, end
            from_seq = end["next_seq"]

    def read_programme(self, which):
        """(text, crc) of the programme in force (0) or the staged one (1)."""
        data = b""
        while True:
            f = self.request("programme_read", which, len(data),
                             until=("programme_data",))[-1].fields
            data += f["data"][:f["length"]]
            if len(data) >= f["total"] or not f["length"]:
                break
        if crc32(data) != f["crc"]:
            raise Mismatch(f"programme read back with CRC {crc32(data):#010x}, pump says "
                           f"{f['crc']:#010x}")
        return data, f["crc"]

    # ---- commands ----

    def _value(self, name, *values, role=CLINICIAN):
        return self.command(name, *values, role=role)[-1].fields["value"]

    def patient_bolus(self):
        """Uses the patient key if there is one, else the clinician's. Returns the dose (ug)."""
        role = PATIENT if PATIENT in self.keys else CLINICIAN
        return self._value("patient_bolus", role=role)

    def bolus(self, amount_ug, duration_s):
        return self._value("bolus", amount_ug, duration_s)

    def priming(self, duration_s=0):
        return self._value("priming", duration_s)

    def bridge(self):
        return self._value("bridge")

    def stop(self):
        self._value("stop")

    def resume(self):
        self._value("resume")

    def refill(self, expected_nl, aspirated_nl, added_nl):
        self._value("refill", expected_nl, aspirated_nl, added_nl)

    def alarm_ack(self, code):
        self._value("alarm_ack", code)

    def alarm_silence(self):
        self._value("alarm_silence")

    def alarm_test(self):
        self._value("alarm_test")

    def time_sync(self, wall_s=None):
        """Tell the pump the Unix time; returns its wall_base_s."""
        return self._value("time_sync", int(time.time()) if wall_s is None else wall_s)

    def stage(self, programme_text):
        """Stage a programme and read it back; returns the CRC the pump computed and the
        largest 24 h dose across the change (programme_check.window_ug). Raises
        Refused (with field and reason) if the pump finds it invalid, Mismatch if the echo
        differs from what was sent."""
        total = len(programme_text)
        if total == 0:
            raise ValueError("empty programme")
        got = None
        for off in range(0, total, CHUNK):
            chunk = programme_text[off:off + CHUNK]
            got = self.command("programme_stage", off, total, len(chunk), chunk,
                               until=("ack", "programme_check"))
        f = got[-1].fields
        if f["reason"]:
            raise Refused("programme", f["reason"], 0, text(f["field"]), text(f["why"]))
        echoed, crc = self.read_programme(1)
        if echoed != programme_text or crc != f["crc"] or crc != crc32(programme_text):
            raise Mismatch("the pump echoed a staged programme other than the one sent")
        return crc, f["window_ug"]

    def commit(self, crc):
        return self._value("programme_commit", crc)

    def discard(self):
        self._value("programme_discard")

