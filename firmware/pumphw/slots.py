# Power-cut-safe storage of one record in two slots written in turn. Each slot holds a header
# (magic, format version, sequence number, payload length) with its own CRC-32, the payload, and
# a CRC-32 over all of it. A write goes to the slot *not* holding the newest record, so a power
# cut at any byte tears at most that slot: reading takes the newest slot that checks, which is
# then the old record or the new one, never a mixture. CRC-32 detects every error confined to
# 32 consecutive bits, so every single-byte corruption is caught.
#
# One case stays ambiguous: a slot that fails its check and whose header does not prove it the
# older one may have held the newest record (a write torn before it finished looks the same as
# a finished one corrupted later). load() then returns the valid record with `doubt` set, and
# the caller must assume the worst about what the lost record allowed (pump.checkpoint).
# Files are reached through `fs` (read(name) -> bytes or None; write(name, data)), so the board
# layer, the simulator and the tests each supply their own.
import struct

from pumpwire.crc import crc32

MAGIC = b"OITB"
VERSION = 2
_HEAD = "<4sBII"            # magic, version, sequence, payload length
_HEAD_LEN = 13
_BODY = _HEAD_LEN + 4       # the header's CRC follows it


def encode(seq, payload):
    head = struct.pack(_HEAD, MAGIC, VERSION, seq, len(payload))
    head += struct.pack("<I", crc32(head))
    return head + payload + struct.pack("<I", crc32(payload, crc32(head)))


def header_seq(data):
    """The sequence number of a slot whose header checks (the payload may not), or None."""
    if data is None or len(data) < _BODY:
        return None
    magic, version, seq, n = struct.unpack_from(_HEAD, data, 0)
    if magic != MAGIC or version != VERSION:
        return None
    if struct.unpack_from("<I", data, _HEAD_LEN)[0] != crc32(data[:_HEAD_LEN]):
        return None
    return seq


def decode(data):
    """(sequence, payload) of a slot's bytes, or None if they do not check whole."""
    seq = header_seq(data)
    if seq is None:
        return None
    n = struct.unpack_from("<I", data, 9)[0]
    if len(data) != _BODY + n + 4:
        return None
    end = _BODY + n
    if struct.unpack_from("<I", data, end)[0] != crc32(data[:end]):
        return None
    return seq, data[_BODY:end]


class SlotStore:
    def __init__(self, fs, names):
        self.fs = fs
        self.names = names       # the two slot file names
        self.seq = None          # sequence of the newest valid record
        self.doubt = False       # a slot that failed may have held a newer record
        self.found = False       # some slot file exists (valid or not)
        self._newest = 0         # its slot

    def load(self):
        """The newest record that checks whole, or None. None with `found` set means stored
        state was lost: the caller must stop delivery and raise an alarm, never carry on with
        defaults."""
        best = None
        raw = [self.fs.read(name) for name in self.names]
        self.found = raw[0] is not None or raw[1] is not None
        self.doubt = False
        self.seq = None
        for i in range(2):
            got = decode(raw[i])
            if got is not None and (best is None or got[0] > best[0]):
                best = got
                self._newest = i
        if best is None:
            # Nothing valid: number new records above any header still readable, so a torn
            # slot can never pass for newer than what is written next.
            for i in range(2):
                seq = header_seq(raw[i])
                if seq is not None and (self.seq is None or seq > self.seq):
                    self.seq = seq
                    self._newest = i
            return None
        other = raw[1 - self._newest]
        if other is not None and decode(other) is None:
            seq = header_seq(other)
            self.doubt = seq is None or seq > best[0]
        self.seq = best[0]
        return best[1]

    def save(self, payload):
        """Write a new record over the older slot; the newest stays readable meanwhile."""
        seq = 1 if self.seq is None else self.seq + 1
        target = 1 - self._newest if self.seq is not None else 0
        self.fs.write(self.names[target], encode(seq, payload))
        self.seq = seq
        self._newest = target
