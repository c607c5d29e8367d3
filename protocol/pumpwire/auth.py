# Command authentication: HMAC-SHA256 (RFC 2104) over the frame, truncated to TAG_LEN bytes,
# with a per-device, per-role key and a counter that must rise with every command, so a forged
# frame fails its tag and a replayed or reordered one fails its counter. MicroPython has
# hashlib.sha256 but no hmac module, hence the few lines below (tested against CPython's hmac).
# Tags are compared in constant time. Keys never leave the device; only counters are kept.
import hashlib

TAG_LEN = 16
_BLOCK = 64

# Roles, from least to most trusted. READ needs no key and may not change therapy.
READ = 0
PATIENT = 1
CLINICIAN = 2
ROLE_NAMES = ("read", "patient", "clinician")

# Verification outcomes (0 = accepted).
AUTH_OK = 0
AUTH_NO_KEY = 1      # the pump has no key for that role
AUTH_BAD_TAG = 2     # forged, corrupted, or signed with another key
AUTH_REPLAY = 3      # counter not above the last accepted one for that role
AUTH_JUMP = 4        # counter too far above it (would exhaust the counter space)

# A counter may rise by at most this much at once. A host that lost its count reads the
# high-water mark from hello, so honest jumps are small; without a bound one frame signed
# with 2**32 - 1 would lock the role out until the pump is provisioned again.
MAX_JUMP = 1 << 20


def hmac_sha256(key, msg):
    """RFC 2104 HMAC with SHA-256."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key + bytes(_BLOCK - len(key))
    inner = hashlib.sha256(bytes(k ^ 0x36 for k in key))
    inner.update(msg)
    outer = hashlib.sha256(bytes(k ^ 0x5C for k in key))
    outer.update(inner.digest())
    return outer.digest()


def tag(key, counter, msg):
    """The truncated tag over the counter (4 bytes, little-endian) and the message."""
    c = bytes((counter & 0xFF, counter >> 8 & 0xFF, counter >> 16 & 0xFF, counter >> 24 & 0xFF))
    return hmac_sha256(key, c + msg)[:TAG_LEN]


def same(a, b):
    """Constant-time equality of two byte strings (time does not depend on where they differ)."""
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0


class Verifier:
    """The pump's side: keys per role and the highest counter accepted per role. The high-water
    marks must be persisted with the pump's state (never rolled back), or a reboot would let
    old frames be replayed."""

    def __init__(self, keys, high_water=None):
        self._keys = keys                       # {role: key bytes}
        self.high_water = list(high_water or (0, 0, 0))

    def check(self, role, counter, msg, got_tag):
        """AUTH_OK and the counter recorded, or the reason; nothing changes on failure."""
        key = self._keys.get(role)
        if key is None:
            return AUTH_NO_KEY
        if not same(tag(key, counter, msg), got_tag):
            return AUTH_BAD_TAG
        if counter <= self.high_water[role]:
            return AUTH_REPLAY
        if counter > self.high_water[role] + MAX_JUMP:
            return AUTH_JUMP
        self.high_water[role] = counter
        return AUTH_OK
