# The link codec on both interpreters: CRC, COBS, frames, the incremental parser and the shared
# vectors (protocol/vectors.json) that prove both ends build identical frames.
import json
from binascii import hexlify, unhexlify

from pumpwire import cobs
from pumpwire.crc import CHECK, crc32, crc32_reference
from pumpwire.frame import VERSION, Parser, encode, pack, pack_signed
from pumpwire.messages import BY_NAME, MESSAGES, SCHEMA

_here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."


def _vectors():
    with open(_here + "/../../protocol/vectors.json") as f:
        return json.load(f)


def test_crc_check_value():
    assert crc32(b"123456789") == CHECK == crc32_reference(b"123456789")
    data = bytes(range(256)) * 3
    assert crc32(data) == crc32_reference(data)
    assert crc32(data[100:], crc32(data[:100])) == crc32(data)


def test_cobs_round_trips_and_never_emits_zero():
    for data in (b"", b"\x00", b"\x00\x00", b"1\x002", bytes(range(1, 255)),
                 bytes(range(1, 256)), bytes(range(256)) * 3, b"\x11" * 254):
        enc = cobs.encode(data)
        assert 0 not in enc
        assert cobs.decode(enc) == data
    assert cobs.decode(b"\x05ab") is None
    assert cobs.decode(b"\x02\x00") is None


def test_vectors_are_reproduced():
    v = _vectors()
    assert v["schema"] == SCHEMA and v["crc32_check"] == CHECK
    assert [f["name"] for f in v["frames"]] == [m[1] for m in MESSAGES]
    for f in v["frames"]:
        values = [unhexlify(x) if i in f["bytes_fields"] else x
                  for i, x in enumerate(f["values"])]
        assert hexlify(pack(f["name"], f["seq"], *values)).decode() == f["frame"], f["name"]
    for f in v["signed"]:
        frame = pack_signed(f["name"], f["seq"], unhexlify(f["key"]), f["role"], f["counter"],
                            *f["values"], device=v["device"])
        assert hexlify(frame).decode() == f["frame"], f["name"]


def test_every_message_round_trips():
    """Each vector decodes back to its values through the parser."""
    import struct
    for f in _vectors()["frames"]:
        got, parser = _collect()
        parser.feed(unhexlify(f["frame"]))
        m = BY_NAME[f["name"]]
        (mid, seq, payload), = got
        assert mid == m[0] and seq == f["seq"]
        values = list(struct.unpack(m[2], payload))
        for i in f["bytes_fields"]:
            values[i] = hexlify(values[i].rstrip(b"\0")).decode()
        assert values == f["values"], f["name"]


def _collect():
    got = []
    return got, Parser(lambda mid, flags, seq, payload: got.append((mid, seq, payload)))


def test_parser_takes_any_chunks_and_skips_garbage():
    a = pack("ack", 1, 21, 513)
    b = pack("nak", 2, 7, 3, 0)
    stream = b"\x17\x99garbage\x00" + a + b"\x05\x05" + b"\x00" + b + a
    got, parser = _collect()
    for i in range(len(stream)):
        parser.feed(stream[i:i + 1])
    assert [(mid, seq) for mid, seq, p in got] == [(3, 1), (4, 2), (3, 1)]
    assert parser.ok == 3 and parser.bad_length == 2


def test_parser_counts_corruption_and_never_accepts_it():
    frame = bytearray(pack("status", 9, 86400, 0, 2, 5, 2, 2, 2, 2100, 4200, 36413000, 600, -1, -1,
                            3337500, 12, 1))
    for i in range(len(frame) - 1):
        for bit in (1, 0x80):
            bad = bytearray(frame)
            bad[i] ^= bit
            got, parser = _collect()
            parser.feed(bytes(bad))
            parser.feed(frame)  # resynchronises on the next good frame
            assert got[-1][1] == 9 and len(got) <= 2
            if len(got) == 2:  # only if the flip left an identical valid frame: impossible
                raise AssertionError("corrupt frame accepted at byte %d" % i)


def test_fingerprint_rejects_a_different_definition():
    """A frame built from another table version (same id, other fingerprint) fails the CRC."""
    import struct
    m = BY_NAME["ack"]
    raw = struct.pack("<BBBHB", VERSION, m[0], 0, 5, 5) + struct.pack("<BI", 1, 0)
    raw += struct.pack("<I", crc32(bytes(((m[6] + 1) & 0xFF,)), crc32(raw)))
    got, parser = _collect()
    parser.feed(cobs.encode(raw) + b"\x00")
    assert got == [] and parser.bad_crc == 1


def test_oversized_and_unknown_frames_are_counted():
    got, parser = _collect()
    parser.feed(b"\x01" * 2000 + b"\x00")
    assert parser.overflow == 1
    raw = bytes((VERSION, 200, 0, 0, 0, 0)) + b"\x00\x00\x00\x00"
    parser.feed(cobs.encode(raw) + b"\x00")
    assert parser.unknown == 1
    parser.feed(encode(BY_NAME["ack"][0], 3, b"\x01\x02\x03\x04"))  # wrong size for ack
    assert parser.bad_length == 1 and got == []


def test_parser_allocates_nothing_per_byte():
    """Bytes between delimiters go into the parser's own buffer: with the heap locked
    (MicroPython), feeding them raises no MemoryError. CPython has no heap lock: skipped."""
    try:
        from micropython import heap_lock, heap_unlock
    except ImportError:
        return
    got, parser = _collect()
    data = bytes(range(1, 256)) * 4
    head = data[:200]
    frame = pack("ack", 1, 2, 3)
    parser.feed(frame)                  # warm up: the first frame may allocate
    heap_lock()
    try:
        parser.feed(head)               # garbage, no delimiter yet
        parser.feed(data)               # past the buffer: overflow, still no allocation
    finally:
        heap_unlock()
    parser.feed(b"\x00" + frame)
    assert parser.overflow == 1 and len(got) == 2


def test_longest_encoding_does_not_overrun():
    """SR-15: 267 non-zero bytes that are valid COBS decode to 266 bytes, one more than the
    longest frame: dropped and counted, never an IndexError (review finding)."""
    got, parser = _collect()
    blob = b"\x01" * 267                   # 266 zero bytes, COBS-encoded
    assert cobs.decode(blob) == bytes(266)
    parser.feed(blob + b"\x00")
    parser.feed(pack("ack", 1, 2, 3))
    assert parser.bad_length == 1 and len(got) == 1


def test_a_raising_handler_loses_only_its_frame():
    got = []

    def handler(mid, flags, seq, payload):
        got.append(seq)
        if seq == 1:
            raise KeyError(seq)
    parser = Parser(handler)
    try:
        parser.feed(pack("ack", 1, 2, 3))
    except KeyError:
        pass
    parser.feed(pack("ack", 2, 2, 3))
    assert got == [1, 2]
