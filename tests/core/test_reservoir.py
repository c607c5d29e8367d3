# Reservoir tracking, low and empty alarms (SR-5, SR-6, SR-7), refill, forecast.
from corekit import Rig, continuous, patient, dystonia, DAY, HOUR
from pump import codes
from pump.forecast import forecast_low_s


def _alarm_times(r, code):
    return [e[1] for e in r.events(codes.E_ALARM) if e[3] == code]


def test_reservoir_follows_steps():
    """SR-5: the estimate is what was put in less what the motor issued."""
    r = Rig(continuous(rate=1000), fill_nl=10000000)
    r.run_to(DAY)
    assert r.pump.reservoir_nl == 10000000 - r.pump.steps * 20 == r.truth_nl


def test_low_alarm_no_later_than_crossing_step():
    """SR-7: 1000 ug/day at 2000 ug/mL uses 0.5 mL/day; from 3 mL the 2 mL threshold is
    crossed by the step at exactly 2 days."""
    r = Rig(continuous(rate=1000), fill_nl=3000000)
    r.run_to(3 * DAY)
    assert _alarm_times(r, codes.A_LOW_RESERVOIR) == [2 * DAY]


def test_low_alarm_raised_in_the_second_before_a_fractional_crossing():
    """SR-7: with 1 step every 3.456 s the crossing step falls between whole seconds; the
    alarm comes at the whole second before it, never after."""
    r = Rig(continuous(rate=1000), fill_nl=2000000 + 20 * 7)
    r.run_to(HOUR)
    # the 7th step is at 7 x 3.456 = 24.192 s
    assert _alarm_times(r, codes.A_LOW_RESERVOIR) == [24]


def test_empty_stops_delivery_and_alarms():
    """SR-6: delivery stops at the step that reaches the empty threshold; critical alarm."""
    r = Rig(continuous(rate=1000), fill_nl=1500000)
    r.run_to(2 * DAY)
    assert r.pump.reservoir_nl == 1000000
    assert r.pump.steps == 500000 // 20
    assert not r.pump.delivering()
    assert _alarm_times(r, codes.A_EMPTY_RESERVOIR) == [DAY]
    assert r.pump.plan.steps == 0
    steps = r.pump.steps
    r.run_to(5 * DAY)
    assert r.pump.steps == steps


def test_empty_alarm_latches_until_refill_and_ack():
    r = Rig(continuous(rate=1000), fill_nl=1500000)
    r.run_to(2 * DAY)
    assert r.pump.acknowledge(2 * DAY, codes.A_EMPTY_RESERVOIR)
    assert not r.pump.delivering()  # acknowledged, but still empty
    assert r.pump.refill(2 * DAY, 1000000, 1000000, 20000000) == codes.OK
    assert r.pump.delivering()
    assert codes.A_EMPTY_RESERVOIR not in r.pump.alarms.table


def test_refill_then_ack_resumes():
    r = Rig(continuous(rate=1000), fill_nl=1500000)
    r.run_to(2 * DAY)
    r.pump.refill(2 * DAY, 1000000, 1000000, 20000000)
    assert not r.pump.delivering()  # latched until acknowledged
    r.pump.acknowledge(2 * DAY, codes.A_EMPTY_RESERVOIR)
    assert r.pump.delivering()
    r.run_to(3 * DAY)
    assert r.pump.reservoir_nl == 19500000


def test_refill_discrepancy_flags_warning():
    r = Rig(continuous(rate=1000), fill_nl=20000000)
    r.run_to(DAY)
    est = r.pump.reservoir_nl
    assert r.pump.refill(DAY, est, est - 500000, 20000000) == codes.OK
    assert codes.A_REFILL_DISCREPANCY not in r.pump.alarms.table  # within 1 mL
    assert r.pump.refill(DAY, est, est - 1500000, 20000000) == codes.OK
    assert codes.A_REFILL_DISCREPANCY in r.pump.alarms.table
    assert r.pump.delivering()  # a warning does not stop delivery
    refills = r.events(codes.E_REFILL)
    assert refills[-1][3:] == (20000000, -1500000)


def test_refill_rejects_impossible_volumes():
    r = Rig(continuous(rate=1000))
    assert r.pump.refill(0, 0, 0, 50000000) == codes.R_VOLUME
    assert r.pump.refill(0, -1, 0, 1000) == codes.R_VOLUME
    assert r.pump.reservoir_nl == 40000000
    assert [e[3:] for e in r.events(codes.E_REFILL_REJECTED)] == [(50000000, 0), (1000, 0)]


def test_empty_is_rechecked_while_stopped():
    """SR-6: a refill back to nothing while stopped re-raises EMPTY; acknowledging it then
    cannot clear it."""
    r = Rig(continuous(rate=1000), fill_nl=1500000)
    r.run_to(2 * DAY)
    r.pump.stop(2 * DAY)
    r.pump.refill(2 * DAY, 1000000, 1000000, 20000000)
    r.pump.refill(2 * DAY, 20000000, 20000000, 0)
    r.pump.acknowledge(2 * DAY, codes.A_EMPTY_RESERVOIR)
    assert codes.A_EMPTY_RESERVOIR in r.pump.alarms.table


def test_refill_never_counts_drug_left_behind():
    """SR-5: after a refill the estimate is what was added, even if less was aspirated."""
    r = Rig(continuous(rate=1000), fill_nl=20000000)
    r.run_to(DAY)
    r.pump.refill(DAY, r.pump.reservoir_nl, 0, 20000000)
    assert r.pump.reservoir_nl == 20000000


def test_forecast_assumes_every_patient_bolus():
    base = Rig(continuous(rate=1000, cap=1500), fill_nl=12000000)
    with_pb = Rig(continuous(rate=1000, cap=1500, patient_bolus=patient(
        amount=50, lockout_min=120, max_per_24h=4, max_ug_per_hour=50)), fill_nl=12000000)
    # 10 mL above low at 0.5 mL/day is 20 days; with 4 x 50 ug more a day, 10 / 0.6 = 16.7
    assert forecast_low_s(base.pump) == 20 * DAY
    f = forecast_low_s(with_pb.pump)
    assert 16 * DAY < f <= 16 * DAY + 2 * DAY // 3 + 1, f / DAY


def test_forecast_dystonia_is_before_low_alarm():
    r = Rig(dystonia(), fill_nl=40000000)
    f = forecast_low_s(r.pump)
    r.run_to(30 * DAY)
    low = _alarm_times(r, codes.A_LOW_RESERVOIR)
    assert low and f <= low[0]
