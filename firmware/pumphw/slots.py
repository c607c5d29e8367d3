# Power-cut-safe storage of one record (issue 5's persistent state), in two slots written in
# turn: each slot holds magic, format version, a sequence number, the length, the payload and
# a CRC-32 over all of it. A write goes to the slot *not* holding the newest record, so a
# power cut at any byte tears at most that slot: reading takes the newest slot that checks,
# which is then the old record or the new one, never a mixture. CRC-32 detects every error
# confined to 32 consecutive bits, so every single-byte corruption is caught. The files are
# reached through `fs` (read(name) -> bytes or None; write(name, data)), so the board layer,
# the simulator and the tests can each supply their own.
import struct

from pumpwire.crc import crc32

MAGIC = b"OITB"
VERSION = 1
_HEAD = "<4sBII"            # magic, version, sequence, payload length
_HEAD_LEN = 13
SLOTS = ("state.a", "state.b")


def encode(seq, payload):
    head = struct.pack(_HEAD, MAGIC, VERSION, seq & 0xFFFFFFFF, len(payload))
    return head + payload + struct.pack("<I", crc32(payload, crc32(head)))


def decode(data):
    """(sequence, payload) of a slot's bytes, or None if they do not check whole."""
    if data is None or len(data) < _HEAD_LEN + 4:
        return None
    magic, version, seq, n = struct.unpack_from(_HEAD, data, 0)
    if magic != MAGIC or version != VERSION or len(data) != _HEAD_LEN + n + 4:
        return None
    body = _HEAD_LEN + n
    if struct.unpack_from("<I", data, body)[0] != crc32(data[:body]):
        return None
    return seq, data[_HEAD_LEN:body]


class SlotStore:
    def __init__(self, fs):
        self.fs = fs
        self.seq = None          # sequence of the newest valid record
        self._newest = 0         # its slot

    def load(self):
        """The newest record that checks whole, or None (no valid state: the caller must stop
        delivery and raise an alarm, never carry on with defaults)."""
        best = None
        for i in range(2):
            got = decode(self.fs.read(SLOTS[i]))
            if got is not None and (best is None or got[0] > best[0]):
                best = got
                self._newest = i
        if best is None:
            return None
        self.seq = best[0]
        return best[1]

    def save(self, payload):
        """Write a new record over the older slot; the newest stays readable meanwhile."""
        seq = 1 if self.seq is None else self.seq + 1
        target = 1 - self._newest if self.seq is not None else 0
        self.fs.write(SLOTS[target], encode(seq, payload))
        self.seq = seq
        self._newest = target
