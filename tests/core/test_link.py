# The pump's end of the link on both interpreters (SR-15..SR-19): replies to every request,
# authentication, roles and replay counters, two-phase programming, telemetry and log resume.
from corekit import DAY, HOUR, continuous, dystonia, patient
from linkkit import DEVICE, KEYS, LinkRig, compact, names, reason
from pump import codes
from pumpwire import reasons
from pumpwire.auth import CLINICIAN, PATIENT, READ
from pumpwire.crc import crc32
from pumpwire.frame import FLAG_PUSH, pack, pack_signed
from pumpwire.messages import SCHEMA, ST_DELIVERING, ST_PROGRAMMED, ST_STAGED, ST_STOPPED


def test_hello_and_status():
    r = LinkRig(dystonia())
    r.run_to(HOUR)
    (name, seq, flags, h), = r.ask("hello_request", 1, SCHEMA)
    assert name == "hello" and seq == r.seq and h["schema"] == SCHEMA
    assert h["board"].rstrip(b"\0") == r.board.name.encode()
    assert h["device"].rstrip(b"\0") == b"test-pump" and h["time_s"] == HOUR
    (name, seq, flags, st), = r.ask("status_request")
    assert name == "status" and st["time_s"] == HOUR and st["mode"] == codes.MODE_FLEX
    assert st["flags"] & ST_DELIVERING and st["flags"] & ST_PROGRAMMED
    assert st["basal_ug_per_day"] == 2100 and st["next_bolus_s"] == 4 * HOUR
    assert st["reservoir_nl"] == r.pump.reservoir_nl and st["forecast_s"] > DAY
    assert st["rate_nl_per_h"] > 0 and st["lockout_s"] == 0


def test_patient_bolus_needs_a_key_and_obeys_lockout():
    """SR-16: an unsigned patient bolus is refused and changes nothing; signed, it runs, and
    the second inside the lockout is refused with the core's reason."""
    r = LinkRig(dystonia())
    before = r.state()
    got = r.ask("patient_bolus")
    assert names(got) == ["nak"] and reason(got) == reasons.N_AUTH_REQUIRED
    assert r.state() == before
    assert r.last("patient_bolus", role=PATIENT) == ("ack", {"msg": 20, "value": 50})
    assert r.pump.lockout_remaining_s() == 120 * 60
    name, f = r.last("patient_bolus", role=PATIENT)
    assert name == "nak" and f["reason"] == codes.R_LOCKOUT


def test_forged_wrong_role_and_replayed_commands_change_nothing():
    """SR-16, SR-17: a forged tag, another role's key, a role not allowed, a replayed or
    out-of-order counter: each refused with its reason, therapy untouched, counted."""
    r = LinkRig(continuous(patient_bolus=patient()))
    r.run_to(HOUR)
    before = r.state()
    got = r.cmd("stop", key=b"x" * 32)
    assert reason(got) == reasons.N_BAD_TAG
    got = r.cmd("stop", key=KEYS[PATIENT])            # patient key, clinician role claimed
    assert reason(got) == reasons.N_BAD_TAG
    got = r.cmd("stop", role=PATIENT)                  # patient role may not stop
    assert reason(got) == reasons.N_ROLE
    got = r.cmd("refill", 0, 0, 1000000, role=PATIENT)
    assert reason(got) == reasons.N_ROLE
    assert r.state() == before
    frame = pack_signed("stop", 9, KEYS[CLINICIAN], CLINICIAN, 5, device=DEVICE)
    assert names(r.raw(frame)) == ["ack"] and r.pump.suspended
    after = r.state()
    assert reason(r.raw(frame)) == reasons.N_REPLAY                     # replayed
    assert reason(r.cmd("resume", counter=4)) == reasons.N_REPLAY       # older counter
    assert r.state() == after
    (_, _, _, st), = r.ask("link_stats_request")
    assert st["bad_auth"] == 2 and st["denied"] == 2 and st["replays"] == 2
    assert r.store.saved == [0, 0, 5]


def test_tampered_signed_frame_is_refused():
    """SR-16: changing the body of a signed frame (recomputing the CRC, as an attacker can)
    breaks the tag."""
    from pumpwire.frame import FLAG_AUTH, encode, open_signed
    r = LinkRig(continuous())
    good = pack_signed("bolus", 3, KEYS[CLINICIAN], CLINICIAN, 1, 100, 600, device=DEVICE)
    from pumpwire.frame import unframe
    raw = unframe(good)
    payload = bytearray(raw[6:-4])
    payload[0] = 0xFF                                  # 100 ug -> 255 ug
    before = r.state()
    got = r.raw(encode(21, 3, bytes(payload), FLAG_AUTH))
    assert reason(got) == reasons.N_BAD_TAG and r.state() == before
    assert open_signed(21, FLAG_AUTH, 3, bytes(payload), DEVICE)[0][0] == 0xFF


def test_counter_is_persisted_before_the_command_acts():
    """SR-17: if the counter cannot be stored, the command does not run."""
    r = LinkRig(continuous())
    r.store.fail = True
    before = r.state()
    assert reason(r.cmd("stop")) == reasons.N_STORAGE
    assert r.state() == before
    r.store.fail = False
    assert names(r.cmd("stop")) == ["ack"] and r.store.saved == [0, 0, 2]


def test_no_key_for_a_role():
    r = LinkRig(continuous())
    del r.link.verifier._keys[PATIENT]
    assert reason(r.cmd("patient_bolus", role=PATIENT)) == reasons.N_NO_KEY


def test_clinician_commands():
    r = LinkRig(continuous(rate=500, cap=2000, catheter_volume_ul=150))
    r.run_to(HOUR)
    assert r.last("bolus", 100, 600) == ("ack", {"msg": 21, "value": 100})
    assert r.last("bolus", 100, 5)[1]["reason"] == codes.R_DURATION
    assert r.last("priming", 0)[0] == "ack"
    assert r.last("stop") == ("ack", {"msg": 24, "value": 0}) and r.pump.suspended
    (_, _, _, st), = r.ask("status_request")
    assert st["flags"] & ST_STOPPED and not st["flags"] & ST_DELIVERING
    assert r.last("resume")[0] == "ack" and not r.pump.suspended
    assert r.last("refill", 39000000, 39000000, 40000000) == ("ack", {"msg": 26,
                                                                       "value": 40000000})
    assert r.pump.reservoir_nl == 40000000
    assert r.last("refill", 0, 0, 99000000)[1]["reason"] == codes.R_VOLUME
    assert r.last("alarm_test")[0] == "ack" and codes.A_TEST in r.pump.alarms.table
    assert r.last("alarm_ack", 2)[1]["reason"] == reasons.N_NO_ALARM
    assert r.last("alarm_silence")[0] == "ack"
    assert r.last("time_sync", 1795000000) == ("ack", {"msg": 30, "value": 1795000000 - HOUR})
    (_, _, _, st), = r.ask("status_request")
    assert st["wall_base_s"] == 1795000000 - HOUR
    assert r.last("time_sync", 5)[1]["reason"] == reasons.N_BAD_VALUE
    assert r.events(codes.E_TIME_SYNC)[0][3] == 1795000000 - HOUR


def test_alarms_are_acknowledged_one_by_one():
    """SR-12 over the link (review finding): no 'acknowledge all', so an alarm raised after
    the host looked is never acknowledged unseen; status tells acknowledged from not."""
    r = LinkRig(continuous(rate=2000, cap=2500), fill_nl=3000000)
    r.run_to(DAY)
    low = codes.A_LOW_RESERVOIR
    (_, _, _, st), = r.ask("status_request")
    assert st["alarm_bits"] == st["unacked_bits"] == 1 << low and st["tone"] > 0
    assert r.last("alarm_ack", 0)[1]["reason"] == reasons.N_NO_ALARM
    assert r.last("alarm_ack", low) == ("ack", {"msg": 27, "value": low})
    (_, _, _, st), = r.ask("status_request")
    assert st["alarm_bits"] == 1 << low and st["unacked_bits"] == 0
    assert r.last("alarm_ack", low)[1]["reason"] == reasons.N_NO_ALARM


def test_read_only_requests_need_no_key_and_the_pumps_own_messages_are_dropped():
    r = LinkRig(continuous())
    got = r.raw(pack("ack", 4, 1, 0))          # an echo of the pump's own answer
    assert got == [] and r.link.ignored == 1
    # a signed read request is fine too: the trailer is ignored
    got = r.raw(pack_signed("status_request", 5, KEYS[PATIENT], PATIENT, 1, device=DEVICE))
    assert names(got) == ["status"]


def test_two_phase_programming():
    """SR-18: stage, read back (the pump echoes text and CRC), commit quoting the CRC."""
    r = LinkRig(continuous(rate=500, cap=1000))
    r.run_to(HOUR)
    old = r.pump.prog
    text = compact(dystonia())
    assert len(text) > 128
    got = r.stage(text)
    (name, _, _, chk), = got
    assert name == "programme_check" and chk["reason"] == 0 and chk["crc"] == crc32(text)
    # the review's largest 24 h window across the change: here the new programme's first day
    # (2100-2400 ug/day basal and eight 250 ug boluses) outweighs 1 h of 500 ug/day behind
    assert chk["window_ug"] == 4300
    assert r.pump.prog is old                       # staged, not in force
    (_, _, _, st), = r.ask("status_request")
    assert st["flags"] & ST_STAGED
    echoed = b""
    while len(echoed) < len(text):
        (name, _, _, d), = r.ask("programme_read", 1, len(echoed))
        assert d["total"] == len(text) and d["crc"] == crc32(text)
        echoed += d["data"][:d["length"]]
    assert echoed == text
    (_, _, _, cur), = r.ask("programme_read", 0, 0)
    assert cur["data"][:cur["length"]] == compact(continuous(rate=500, cap=1000))[:128]
    assert r.last("programme_commit", crc32(text) ^ 1)[1]["reason"] == reasons.N_CRC
    assert r.pump.prog is old
    assert r.last("programme_commit", crc32(text)) == ("ack", {"msg": 44, "value": crc32(text)})
    assert r.pump.prog.mode == codes.MODE_FLEX
    (_, _, _, cur), = r.ask("programme_read", 0, 0)
    assert cur["crc"] == crc32(text)
    assert r.last("programme_commit", crc32(text))[1]["reason"] == reasons.N_NOT_STAGED


def test_invalid_programmes_are_refused_whole():
    """SR-8, SR-18: bad JSON, an invalid field, oversize, chunks out of order; a patient key
    cannot programme. Nothing changes."""
    r = LinkRig(continuous(rate=500, cap=1000))
    before = r.state()
    (name, _, _, chk), = r.stage(b'{"mode": "flex"')
    assert name == "programme_check" and chk["reason"] == reasons.N_PROGRAMME
    assert chk["why"].rstrip(b"\0") == b"not valid JSON at byte 15: text ends too soon"
    bad = continuous(rate=500, cap=100)
    (_, _, _, chk), = r.stage(compact(bad))
    assert chk["field"].rstrip(b"\0") == b"max_ug_per_24h"
    assert reason(r.cmd("programme_commit", chk["crc"])) == reasons.N_NOT_STAGED
    assert reason(r.cmd("programme_stage", 0, 9000, 1, b"{")) == reasons.N_TOO_LARGE
    assert reason(r.cmd("programme_stage", 128, 300, 128, b"x" * 128)) == reasons.N_CHUNK
    assert reason(r.stage(compact(dystonia()), role=PATIENT)) == reasons.N_ROLE
    assert reason(r.ask("programme_read", 1, 0)) == reasons.N_NOT_STAGED
    assert r.state()[:6] == before[:6]


def test_a_change_over_the_hard_limit_is_refused_at_staging_and_at_commit():
    """SR-4, SR-18: a programme valid alone but over the hard limit against the last 24 h is
    refused when staged (with the window it would make); one that became so after staging (a
    bolus meanwhile) is refused at commit with its reason, the staged copy kept."""
    r = LinkRig(continuous(rate=4000, cap=5500))
    r.run_to(DAY - 600)
    text = compact(continuous(rate=6000, cap=6000))
    (_, _, _, chk), = r.stage(text)
    assert chk["reason"] == 0 and chk["window_ug"] == 6000
    assert r.last("bolus", 1000, 300)[0] == "ack"
    r.run_to(DAY)
    got = r.cmd("programme_commit", chk["crc"])
    assert names(got) == ["programme_check", "nak"] and reason(got) == reasons.N_PROGRAMME
    assert got[0][3]["field"].rstrip(b"\0") != b""
    assert r.pump.prog.daily_ug() == 4000
    assert r.last("programme_discard")[0] == "ack"
    (_, _, _, st), = r.ask("status_request")
    assert not st["flags"] & ST_STAGED
    (_, _, _, chk), = r.stage(text)
    assert chk["reason"] == reasons.N_PROGRAMME and chk["window_ug"] > 6000
    assert chk["field"].rstrip(b"\0") == b"max_ug_per_24h"


def test_log_streaming_resumes_from_an_index():
    r = LinkRig(dystonia())
    r.run_to(DAY)
    total = r.pump.log.seq
    assert total > 10
    got = r.ask("log_request", 0, 4)
    assert names(got) == ["log_record"] * 4 + ["log_end"]
    assert [g[3]["seq"] for g in got[:4]] == [0, 1, 2, 3]
    end = got[-1][3]
    assert end["next_seq"] == 4 and end["log_seq"] == total and end["oldest_seq"] == 0
    seen = [g[3]["seq"] for g in got[:4]]
    nxt = end["next_seq"]
    while nxt < total:
        got = r.ask("log_request", nxt, 0)
        seen += [g[3]["seq"] for g in got[:-1]]
        nxt = got[-1][3]["next_seq"]
    assert seen == list(range(total))
    assert names(r.ask("log_request", total + 5, 10)) == ["log_end"]


def test_log_resume_reports_overwritten_records():
    r = LinkRig(dystonia(), log_size=32)
    r.run_to(4 * DAY)
    got = r.ask("log_request", 0, 1)
    oldest = got[-1][3]["oldest_seq"]
    assert oldest > 0 and got[0][3]["seq"] == oldest


def test_telemetry_pushes_status_at_its_period():
    r = LinkRig(continuous())
    assert r.ask("telemetry", 60)[0][3] == {"msg": 7, "value": 60}
    assert r.link.next_due_s() == 60
    r.out = []
    r.run_to(60)
    r.link.poll(60)
    r.link.poll(61)
    (name, _, flags, st), = r.out
    assert name == "status" and flags & FLAG_PUSH and st["time_s"] == 60
    assert r.link.next_due_s() == 120
    r.ask("telemetry", 0)
    assert r.link.next_due_s() is None


def test_keys_are_never_sent():
    """SR-19: nothing the pump sends carries a key."""
    r = LinkRig(dystonia())
    sent = []
    r.session.write = sent.append
    r.ask("hello_request", 1, SCHEMA)
    r.ask("status_request")
    r.ask("link_stats_request")
    r.ask("programme_read", 0, 0)
    r.cmd("patient_bolus", role=PATIENT)
    blob = b"".join(sent)
    for key in KEYS.values():
        for i in range(len(key) - 7):
            assert key[i:i + 8] not in blob


def test_roles_per_message():
    """SR-16: only patient_bolus is open to the patient role; read requests to anyone."""
    from pumpwire.messages import MESSAGES, PUMP
    for m in MESSAGES:
        senders = m[4]
        if PUMP in senders:
            assert senders == (PUMP,)
        elif READ in senders:
            assert m[1].endswith("_request") or m[1] in ("telemetry", "programme_read")
        elif PATIENT in senders:
            assert m[1] == "patient_bolus"
        else:
            assert senders == (CLINICIAN,)


def test_counter_may_not_jump_to_the_end():
    """SR-17 (review finding): one frame signed with 2**32 - 1 must not lock the role out."""
    from pumpwire.auth import MAX_JUMP
    r = LinkRig(continuous())
    before = r.state()
    assert reason(r.cmd("alarm_test", counter=0xFFFFFFFF)) == reasons.N_COUNTER
    assert reason(r.cmd("stop", counter=MAX_JUMP + 1)) == reasons.N_COUNTER
    assert r.state() == before
    assert names(r.cmd("stop", counter=MAX_JUMP)) == ["ack"] and r.pump.suspended


def test_odd_text_in_a_refused_programme_is_reported():
    """A field name that is not valid UTF-8 text (a lone surrogate from JSON) still gets its
    programme_check, never an exception (review finding)."""
    r = LinkRig(continuous())
    (name, _, _, chk), = r.stage(b'{"\\ud800":1}')
    assert name == "programme_check" and chk["reason"] == reasons.N_PROGRAMME


def test_review_shows_the_window_straddling_a_change():
    """The open hazard of docs/safety.md: a programme valid alone can, with the last 24 h's
    delivery, put a window above its own cap; programme_check says how much, for the review."""
    r = LinkRig(continuous(rate=4000, cap=4500))
    r.run_to(DAY)
    (_, _, _, chk), = r.stage(compact(continuous(rate=1000, cap=1500)))
    assert chk["reason"] == 0 and 3990 <= chk["window_ug"] <= 4001


def test_staging_the_programme_in_force_again_is_accepted():
    """Staging the running programme again, after a bolus, is accepted: committing it would
    change nothing (review_change answers as program() does)."""
    r = LinkRig(continuous(rate=4000, cap=5500))
    r.run_to(DAY - 600)
    assert r.last("bolus", 1000, 300)[0] == "ack"
    r.run_to(DAY)
    (_, _, _, chk), = r.stage(compact(continuous(rate=4000, cap=5500)))
    assert chk["reason"] == 0
