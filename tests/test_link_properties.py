"""SR-16, SR-17: whatever mix of legitimate commands and attacks reaches the pump (forged tags,
other roles' keys, roles not allowed, unsigned commands, replays of earlier frames, stale
counters, bit flips), the therapy ends exactly as if only the legitimate commands had come."""
import sys
import os

from hypothesis import given, settings, strategies as st

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "core"))

from corekit import HOUR, continuous, patient  # noqa: E402
from linkkit import DEVICE, KEYS, LinkRig  # noqa: E402
from pumpwire.auth import CLINICIAN, PATIENT  # noqa: E402
from pumpwire.frame import pack, pack_signed  # noqa: E402

COMMANDS = [("patient_bolus", ()), ("bolus", (100, 600)), ("stop", ()), ("resume", ()),
            ("refill", (0, 0, 30000000)), ("alarm_test", ()), ("priming", (0,)),
            ("alarm_ack", (4,)), ("alarm_silence", ())]
ATTACKS = ("forge", "other_key", "wrong_role", "unsigned", "replay", "stale", "flip")


def _programme():
    return continuous(rate=800, cap=3000, catheter_volume_ul=100,
                      patient_bolus=patient(50, 5, 30, 12, 200))


def _view(r):
    s = r.state()
    return (s[0].daily_ug() if s[0] else None,) + s[1:6] + s[7:]


OPS = st.lists(st.tuples(st.integers(0, 3 * HOUR), st.sampled_from(COMMANDS),
                         st.sampled_from(("ok",) + ATTACKS), st.integers(0, 10 ** 6)),
               max_size=25)


@settings(max_examples=150, deadline=None)
@given(OPS)
def test_attacks_change_nothing(ops):
    real = LinkRig(_programme())
    ref = LinkRig(_programme())
    sent = []
    t = 0
    for dt, (name, values), kind, salt in ops:
        t += dt
        real.run_to(t)
        ref.run_to(t)
        role = PATIENT if name == "patient_bolus" else CLINICIAN
        if kind == "ok":
            real.counter[role] += 1
            frame = pack_signed(name, salt & 0xFFFF, KEYS[role], role, real.counter[role],
                                *values, device=DEVICE)
            ref.cmd(name, *values, role=role)
            sent.append(frame)
            real.raw(frame)
            continue
        c = real.counter[role] + 1
        if kind == "forge":
            frame = pack_signed(name, 1, salt.to_bytes(4, "little") * 8, role, c, *values,
                                device=DEVICE)
        elif kind == "other_key":
            other = CLINICIAN if role == PATIENT else PATIENT
            frame = pack_signed(name, 1, KEYS[other], role, c, *values, device=DEVICE)
        elif kind == "wrong_role":
            if role == PATIENT:
                continue  # the clinician may send a patient bolus
            frame = pack_signed(name, 1, KEYS[PATIENT], PATIENT, c, *values, device=DEVICE)
        elif kind == "unsigned":
            frame = pack(name, 1, *values)
        elif kind == "replay":
            if not sent:
                continue
            frame = sent[salt % len(sent)]
        elif kind == "stale":
            frame = pack_signed(name, 1, KEYS[role], role, real.counter[role], *values,
                                device=DEVICE)
        else:
            good = bytearray(pack_signed(name, 1, KEYS[role], role, c, *values,
                                         device=DEVICE))
            i = salt % (len(good) - 1)
            good[i] ^= 1 << (salt % 8) or 1
            frame = bytes(good)
        before = _view(real)
        real.raw(frame)
        assert _view(real) == before, kind
    assert _view(real) == _view(ref)


JSON = st.recursive(st.none() | st.booleans() | st.integers(-2 ** 40, 2 ** 40) |
                    st.floats(allow_nan=False) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4) |
                    st.dictionaries(st.sampled_from(["mode", "flex", "days", "cycle_days",
                                                     "concentration_ug_per_ml",
                                                     "rate_ug_per_day", "max_ug_per_24h",
                                                     "patient_bolus", "amount_ug",
                                                     "periodic_boluses", "single_bolus"]),
                                    inner, max_size=5), max_leaves=30)


@settings(max_examples=200, deadline=None)
@given(st.one_of(JSON, st.fixed_dictionaries({"mode": st.sampled_from(
    ["continuous", "flex", "bolus", "stopped"])}, optional={
        "concentration_ug_per_ml": JSON, "rate_ug_per_day": JSON, "max_ug_per_24h": JSON,
        "flex": JSON, "patient_bolus": JSON, "periodic_boluses": JSON, "single_bolus": JSON})),
       st.sampled_from([b"", b"[" * 3000, b"{\"mode\": 1e999}"]))
def test_any_staged_text_is_checked_never_crashes(doc, extra):
    """SR-8, SR-18: whatever text is staged, the pump answers programme_check and the
    programme in force is unchanged unless a valid one is committed."""
    import json
    r = LinkRig(_programme())
    before = _view(r)
    text = extra or json.dumps(doc).encode()
    got = r.stage(text[:8192])
    assert got[-1][0] in ("programme_check", "nak")
    assert _view(r) == before
