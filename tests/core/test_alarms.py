# Alarm priorities, latching, silence and re-annunciation, the commanded test, tones (SR-12);
# alarm events in the log (SR-13).
from corekit import Rig, continuous, DAY
from pump import codes, limits
from pump.alarms import TONE_CRITICAL, TONE_WARNING, TONE_NONE


def test_warning_latches_and_does_not_stop():
    r = Rig(continuous(rate=1000), fill_nl=2500000)
    r.run_to(2 * DAY)
    assert codes.A_LOW_RESERVOIR in r.pump.alarms.table
    assert r.pump.tone() == TONE_WARNING
    r.pump.acknowledge(2 * DAY, codes.A_LOW_RESERVOIR)
    assert r.pump.tone() == TONE_NONE
    assert codes.A_LOW_RESERVOIR in r.pump.alarms.table  # still low: listed, silent


def test_critical_stops_and_outranks_warning():
    r = Rig(continuous(rate=1000), fill_nl=1500000)
    r.run_to(2 * DAY)
    assert r.pump.tone() == TONE_CRITICAL
    assert not r.pump.delivering()


def test_silence_then_reannunciation():
    r = Rig(continuous(rate=1000), fill_nl=2500000)
    r.run_to(DAY + 1)
    assert r.pump.tone() == TONE_WARNING
    r.pump.silence(DAY + 1)
    assert r.pump.tone() == TONE_NONE
    assert r.pump.next_due_s == DAY + 1 + limits.SILENCE_S
    r.run_to(DAY + 1 + limits.SILENCE_S)
    assert r.pump.tone() == TONE_WARNING
    assert [e[2] for e in r.events() if e[2] == codes.E_ALARM_SILENCE] == [codes.E_ALARM_SILENCE]


def test_alarm_test_plays_each_tone_and_clears():
    r = Rig(continuous(rate=1000))
    r.pump.alarm_test(0)
    assert r.pump.tone() == TONE_CRITICAL
    assert r.pump.delivering()  # a test never stops delivery
    assert r.pump.next_due_s == limits.ALARM_TEST_S // 2  # the board wakes to change tone
    r.run_to(limits.ALARM_TEST_S // 2)
    assert r.pump.tone() == TONE_WARNING
    r.run_to(limits.ALARM_TEST_S)
    assert r.pump.tone() == TONE_NONE
    kinds = [(e[2], e[3]) for e in r.events() if e[3] == codes.A_TEST]
    assert kinds == [(codes.E_ALARM, codes.A_TEST), (codes.E_ALARM_CLEAR, codes.A_TEST)]


def test_ack_of_cleared_condition_removes_alarm():
    r = Rig(continuous(rate=1000), fill_nl=2500000)
    r.run_to(2 * DAY)
    r.pump.refill(2 * DAY, r.pump.reservoir_nl, r.pump.reservoir_nl, 20000000)
    assert codes.A_LOW_RESERVOIR in r.pump.alarms.table  # latched: not yet acknowledged
    assert r.pump.acknowledge(2 * DAY, codes.A_LOW_RESERVOIR)
    assert codes.A_LOW_RESERVOIR not in r.pump.alarms.table
    assert not r.pump.acknowledge(2 * DAY, codes.A_LOW_RESERVOIR)


def test_tone_patterns_are_distinct_and_well_formed():
    assert TONE_CRITICAL != TONE_WARNING
    for pattern in (TONE_CRITICAL, TONE_WARNING):
        for freq, on_ms, off_ms in pattern:
            assert 100 <= freq <= 4000 and on_ms > 0 and off_ms > 0
    assert len(TONE_CRITICAL) > len(TONE_WARNING)


def test_alarm_test_never_hides_a_critical_alarm():
    r = Rig(continuous(rate=1000), fill_nl=1500000)
    r.run_to(2 * DAY)
    r.pump.alarm_test(2 * DAY)
    r.run_to(2 * DAY + limits.ALARM_TEST_S // 2)
    assert r.pump.tone() == TONE_CRITICAL


def test_alarm_whose_cause_returns_is_logged_again():
    """SR-13"""
    r = Rig(continuous(rate=1000), fill_nl=2100000)
    r.run_to(DAY)
    # refilled above low but not acknowledged: still latched; then it runs low again
    r.pump.refill(DAY, r.pump.reservoir_nl, r.pump.reservoir_nl, 2100000)
    r.run_to(2 * DAY)
    raised = [e[1] for e in r.events(codes.E_ALARM) if e[3] == codes.A_LOW_RESERVOIR]
    assert len(raised) == 2, raised


def test_hardware_conditions_from_the_board_layer():
    """SR-12, SR-22: a stall is critical (delivery stops), latches after the cause goes, and clears
    on acknowledgement; a battery ERI is a warning that does not stop delivery."""
    r = Rig(continuous())
    r.run_to(3600)
    r.pump.condition(3600, codes.A_BATTERY_ERI, True)
    assert r.pump.delivering() and r.pump.tone() is not None
    r.pump.condition(3600, codes.A_MOTOR_STALL, True)
    assert not r.pump.delivering() and r.pump.plan.steps == 0
    r.run_to(7200)
    r.pump.condition(7200, codes.A_MOTOR_STALL, False)
    assert not r.pump.delivering()                  # latched until acknowledged
    assert r.pump.acknowledge(7200, codes.A_MOTOR_STALL)
    assert r.pump.delivering() and codes.A_MOTOR_STALL not in r.pump.alarms.table
    assert [e[3] for e in r.events(codes.E_ALARM)] == [codes.A_BATTERY_ERI, codes.A_MOTOR_STALL]
