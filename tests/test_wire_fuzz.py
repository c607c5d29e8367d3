"""The frame parser against hostile byte streams (hypothesis): random garbage, bit flips,
truncations, insertions and duplications never crash it, never yield a frame that was not
sent, and it resynchronises on the next good frame. Also: crcmod (host) and binascii agree."""
import struct

from hypothesis import given, settings, strategies as st

from pumpwire.crc import crc32_reference
from pumpwire.frame import Parser, pack

FRAMES = st.lists(st.tuples(st.integers(0, 0xFFFF), st.integers(0, 255),
                            st.integers(0, 0xFFFFFFFF)), min_size=1, max_size=8)


def _run(chunks):
    got = []
    parser = Parser(lambda mid, flags, seq, payload: got.append((mid, seq, payload)))
    for c in chunks:
        parser.feed(c)
    return got, parser


@settings(max_examples=300, deadline=None)
@given(FRAMES, st.data())
def test_hostile_streams(frames, data):
    sent = [pack("ack", seq, msg, value) for seq, msg, value in frames]
    stream = bytearray()
    for f in sent:
        mangle = data.draw(st.sampled_from(("keep", "flip", "cut", "insert", "twice")))
        f = bytearray(f)
        if mangle == "flip":
            i = data.draw(st.integers(0, len(f) - 2))
            f[i] ^= 1 << data.draw(st.integers(0, 7))
        elif mangle == "cut":
            f = f[:data.draw(st.integers(0, len(f) - 2))] + b"\x00"
        elif mangle == "insert":
            f = data.draw(st.binary(max_size=20)) + b"\x00" + f
        elif mangle == "twice":
            f = f + f
        stream += f
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    chunks = [bytes(stream[a:b]) for a, b in zip([0] + cuts, cuts + [len(stream)])]
    got, parser = _run(chunks)
    valid = {(3, seq, struct.pack("<BI", msg, value)) for seq, msg, value in frames}
    assert all(g in valid for g in got), "a frame that was not sent"
    # a good frame after any of that is received
    got2, _ = _run([bytes(stream) + pack("nak", 1, 2, 3, 0)])
    assert got2[-1][0] == 4, "no resynchronisation"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000))
def test_garbage_never_raises(blob):
    got, parser = _run([blob])
    assert parser.ok == len(got)


def test_host_crcmod_matches_binascii():
    crcmod = __import__("crcmod.predefined").predefined
    fn = crcmod.mkPredefinedCrcFun("crc-32")
    for data in (b"", b"123456789", bytes(range(256)) * 5):
        assert fn(data) == crc32_reference(data)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.binary(max_size=500))
def test_hmac_matches_cpython(key, msg):
    import hashlib
    import hmac

    from pumpwire.auth import hmac_sha256
    assert hmac_sha256(key, msg) == hmac.new(key, msg, hashlib.sha256).digest()


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF), st.integers(0, 0xFFFF))
def test_frames_never_carry_ctrl_c(seq, value, detail):
    """A board's USB serial line turns 0x03 into Ctrl-C: no frame carries it (escaped), and
    escaped frames parse back to what was sent."""
    from pumpwire.frame import ESC
    frame = pack("status", seq, value, value, 3, 3, detail, detail, 3, value, value, value,
                 -1, -1, -1, value, value, 3)
    assert 3 not in frame and frame[0] == 0 == frame[-1] and 0 not in frame[1:-1]
    got, _ = _run([frame])
    assert len(got) == 1 and got[0][1] == seq
    got, _ = _run([frame.replace(bytes((ESC, 0x23)), b"\x03")])   # a bare 0x03 is accepted
    assert len(got) == 1
