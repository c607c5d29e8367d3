# Frames: header (protocol version, message id, flags, sequence number, payload length), payload,
# CRC-32 (little-endian) over header + payload + the message's fingerprint byte; then COBS and a
# 0x00 delimiter. A signed frame (FLAG_AUTH) ends its payload with a trailer: role (1 byte),
# counter (4, little-endian) and the HMAC tag over counter + device id + header + body + role.
# Parser takes bytes as they come, in any chunks, never raises on bad input, keeps counters,
# resynchronises at the next delimiter, and works in buffers it allocated once.
import struct

from pumpwire.auth import TAG_LEN, tag
from pumpwire.cobs import decode, decode_into, encode_into, encoded_size
from pumpwire.crc import crc32
from pumpwire.messages import BY_ID, BY_NAME

VERSION = 2        # 2: 0x03/ESC escaping and a leading 0x00 on the wire
HEADER = "<BBBHB"
HEADER_LEN = 6
MAX_PAYLOAD = 255
MAX_FRAME = HEADER_LEN + MAX_PAYLOAD + 4
FLAG_AUTH = 1     # payload ends with the authentication trailer
FLAG_PUSH = 2     # telemetry the pump sent by itself (not a reply)
TRAILER = 5 + TAG_LEN

# On a board's USB serial line a 0x03 byte is Ctrl-C: MicroPython would interrupt the running
# pump application. So after COBS, 0x03 and the escape byte itself are sent as ESC, b ^ 0x20.
# Frames then never carry 0x03 (nor 0x00 inside), and a host's Ctrl-C (mpremote) still
# reaches the REPL. Each frame is also preceded by a 0x00, so whatever a previous sender or
# line noise left half-sent ends before it.
ESC = 0x1B
CTRL_C = 0x03


def _header(msg_id, flags, seq, length):
    return struct.pack(HEADER, VERSION, msg_id, flags, seq & 0xFFFF, length)


def encode(msg_id, seq, payload, flags=0):
    """One frame as sent: 0x00, COBS with 0x03 and ESC escaped, 0x00."""
    fp = BY_ID[msg_id][6]
    if len(payload) > MAX_PAYLOAD:
        raise ValueError("payload too long")
    raw = _header(msg_id, flags, seq, len(payload)) + payload
    raw += struct.pack("<I", crc32(bytes((fp,)), crc32(raw)))
    cobs = bytearray(encoded_size(len(raw)))
    n = encode_into(raw, len(raw), cobs)
    out = bytearray(b"\0")
    for i in range(n):
        b = cobs[i]
        if b == CTRL_C or b == ESC:
            out.append(ESC)
            b ^= 0x20
        out.append(b)
    out.append(0)
    return bytes(out)


def unframe(wire):
    """One frame as sent -> the decoded header + payload + CRC, or None (host and tests)."""
    cobs = bytearray()
    esc = False
    for b in wire.strip(b"\0"):
        if b == ESC:
            esc = True
            continue
        cobs.append(b ^ 0x20 if esc else b)
        esc = False
    return decode(bytes(cobs))


def pack(name_or_id, seq, *values, flags=0):
    """Encode a message from its field values, by name or id."""
    m = BY_NAME[name_or_id] if isinstance(name_or_id, str) else BY_ID[name_or_id]
    return encode(m[0], seq, struct.pack(m[2], *values), flags)


def device_id(name):
    """A device name as the 16 bytes hello carries and every tag covers."""
    return struct.pack("16s", name.encode() if isinstance(name, str) else name)


def signed_part(msg_id, flags, seq, body, role, device):
    """The bytes a command's tag covers: the pump's device id (so a frame for one pump is
    worthless to another that shares its keys), the header as sent (trailer length included),
    body and role."""
    return device_id(device) + _header(msg_id, flags | FLAG_AUTH, seq, len(body) + TRAILER) + \
        body + bytes((role,))


def pack_signed(name, seq, key, role, counter, *values, device):
    """A command for pump `device`, signed with the role's key and counter (the host's side)."""
    m = BY_NAME[name]
    body = struct.pack(m[2], *values)
    t = tag(key, counter, signed_part(m[0], 0, seq, body, role, device))
    return encode(m[0], seq, body + bytes((role,)) + struct.pack("<I", counter) + t, FLAG_AUTH)


def open_signed(msg_id, flags, seq, payload, device):
    """(body, role, counter, tag, signed bytes) of a signed frame, or None if it is unsigned."""
    if not flags & FLAG_AUTH:
        return None
    n = len(payload) - TRAILER
    body = payload[:n]
    role = payload[n]
    counter = struct.unpack_from("<I", payload, n + 1)[0]
    return body, role, counter, payload[n + 5:], signed_part(msg_id, flags, seq, body, role,
                                                             device)


class Parser:
    """Feed it bytes; it calls on_frame(msg_id, flags, seq, payload) for each good frame."""

    def __init__(self, on_frame):
        self._on_frame = on_frame
        self._raw = bytearray(encoded_size(MAX_FRAME))
        self._dec = bytearray(len(self._raw))   # COBS never decodes longer than its input
        self._n = 0
        self._overflow = False
        self._esc = False
        self.ok = 0
        self.bad_crc = 0
        self.bad_length = 0
        self.bad_version = 0
        self.unknown = 0
        self.overflow = 0

    def feed(self, data):
        """Take a chunk of bytes. Allocates nothing until a frame is complete (an index loop:
        MicroPython would allocate an iterator for `for b in data`)."""
        raw = self._raw
        for i in range(len(data)):
            b = data[i]
            if b == 0:
                n = self._n
                self._n = 0              # first, so a handler that raises leaves a clean state
                self._esc = False
                if self._overflow:
                    self._overflow = False
                    self.overflow += 1
                elif n:
                    self._frame(n)
                continue
            if b == ESC:
                self._esc = True
                continue
            if self._esc:
                self._esc = False
                b ^= 0x20
            if self._n < len(raw):
                raw[self._n] = b
                self._n += 1
            else:
                self._overflow = True

    def _frame(self, n):
        n = decode_into(self._raw, n, self._dec)
        d = self._dec
        if n < HEADER_LEN + 4 or d[5] != n - HEADER_LEN - 4:
            self.bad_length += 1
            return
        if d[0] != VERSION:
            self.bad_version += 1
            return
        m = BY_ID.get(d[1])
        if m is None:
            self.unknown += 1
            return
        if d[5] != m[7] + (TRAILER if d[2] & FLAG_AUTH else 0):
            self.bad_length += 1
            return
        body = n - 4
        got = d[body] | d[body + 1] << 8 | d[body + 2] << 16 | d[body + 3] << 24
        mv = memoryview(d)
        if crc32(bytes((m[6],)), crc32(mv[:body])) != got:
            self.bad_crc += 1
            return
        self.ok += 1
        self._on_frame(d[1], d[2], d[3] | d[4] << 8, bytes(mv[HEADER_LEN:body]))
