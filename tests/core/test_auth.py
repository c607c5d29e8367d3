# Command authentication on both interpreters: HMAC-SHA256 against RFC 4231 vectors, roles,
# forged tags and replayed or reordered counters.
from binascii import unhexlify

from pumpwire.auth import (AUTH_BAD_TAG, AUTH_NO_KEY, AUTH_OK, AUTH_REPLAY, CLINICIAN,
                           PATIENT, TAG_LEN, Verifier, hmac_sha256, same, tag)


def test_rfc4231_vectors():
    # Test cases 1, 2 and 6 (a key longer than the block)
    assert hmac_sha256(b"\x0b" * 20, b"Hi There") == unhexlify(
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
    assert hmac_sha256(b"Jefe", b"what do ya want for nothing?") == unhexlify(
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    assert hmac_sha256(b"\xaa" * 131,
                       b"Test Using Larger Than Block-Size Key - Hash Key First") == unhexlify(
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")


def test_constant_time_compare_semantics():
    assert same(b"abc", b"abc") and not same(b"abc", b"abd") and not same(b"ab", b"abc")


def test_roles_forgeries_and_replays():
    keys = {PATIENT: b"p" * 32, CLINICIAN: b"c" * 32}
    v = Verifier(keys)
    msg = b"frame bytes"
    assert len(tag(keys[PATIENT], 1, msg)) == TAG_LEN
    assert v.check(PATIENT, 1, msg, tag(keys[PATIENT], 1, msg)) == AUTH_OK
    assert v.check(PATIENT, 1, msg, tag(keys[PATIENT], 1, msg)) == AUTH_REPLAY
    assert v.check(PATIENT, 3, msg, tag(keys[PATIENT], 3, msg)) == AUTH_OK
    assert v.check(PATIENT, 2, msg, tag(keys[PATIENT], 2, msg)) == AUTH_REPLAY  # reordered
    # a patient key cannot pass as the clinician
    assert v.check(CLINICIAN, 9, msg, tag(keys[PATIENT], 9, msg)) == AUTH_BAD_TAG
    forged = bytearray(tag(keys[CLINICIAN], 9, msg))
    forged[0] ^= 1
    assert v.check(CLINICIAN, 9, msg, bytes(forged)) == AUTH_BAD_TAG
    assert v.check(CLINICIAN, 9, msg + b"!", tag(keys[CLINICIAN], 9, msg)) == AUTH_BAD_TAG
    assert v.high_water == [0, 3, 0]  # failures changed nothing
    assert Verifier({}).check(PATIENT, 1, msg, b"x" * TAG_LEN) == AUTH_NO_KEY
