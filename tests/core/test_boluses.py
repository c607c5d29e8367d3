# Patient and clinician boluses: per-request checks and reason codes (SR-2, SR-3, SR-4).
from corekit import Rig, continuous, patient, dystonia, DAY, HOUR
from pump import codes


def _refusals(r):
    return [(e[3], e[4]) for e in r.events(codes.E_BOLUS_REFUSED)]


def test_patient_lockout_start_to_start():
    """SR-2"""
    r = Rig(continuous(rate=500, cap=1500, patient_bolus=patient(lockout_min=60)))
    assert r.pump.request_patient_bolus(0) == codes.OK
    assert r.pump.lockout_remaining_s() == HOUR
    r.run_to(HOUR - 1)
    assert r.pump.request_patient_bolus(HOUR - 1) == codes.R_LOCKOUT
    r.run_to(HOUR)
    assert r.pump.request_patient_bolus(HOUR) == codes.OK
    assert _refusals(r) == [(codes.BOLUS_PATIENT, codes.R_LOCKOUT)]


def test_patient_count_per_rolling_24h():
    """SR-3"""
    r = Rig(continuous(rate=500, cap=1500, patient_bolus=patient(max_per_24h=3)))
    for k in range(3):
        r.run_to(k * HOUR)
        assert r.pump.request_patient_bolus(k * HOUR) == codes.OK
    r.run_to(23 * HOUR)
    assert r.pump.request_patient_bolus(23 * HOUR) == codes.R_COUNT_24H
    r.run_to(DAY - 1)
    assert r.pump.request_patient_bolus(DAY - 1) == codes.R_COUNT_24H
    r.run_to(DAY)  # windows are 24 h long: the press at 0 h has just left
    assert r.pump.request_patient_bolus(DAY) == codes.OK


def test_patient_ug_per_hour():
    """SR-3: 40 ug boluses, 20 min lockout, 100 ug/h: the third in an hour is refused."""
    r = Rig(continuous(rate=500, cap=1500,
                       patient_bolus=patient(40, 5, 20, 10, 100)))
    for t in (0, 1200):
        r.run_to(t)
        assert r.pump.request_patient_bolus(t) == codes.OK
    r.run_to(2400)
    assert r.pump.request_patient_bolus(2400) == codes.R_UG_PER_HOUR
    r.run_to(HOUR + 1)
    assert r.pump.request_patient_bolus(HOUR + 1) == codes.OK


def test_total_24h_cap_counts_schedule_and_unscheduled():
    """SR-4: cap 1200 with 1000 scheduled leaves 200 ug of boluses in any 24 h window; a bolus
    counts in a window for the part of it that falls inside."""
    r = Rig(continuous(rate=1000, cap=1200))
    assert r.pump.request_bolus(0, 150, 600) == codes.OK
    r.run_to(HOUR)
    assert r.pump.request_bolus(HOUR, 60, 600) == codes.R_UG_24H
    assert r.pump.request_bolus(HOUR, 49, 600) == codes.OK
    r.run_to(DAY + 100)
    # The window from 160 s holds 1000 ug of basal, 110 of the first bolus, 49 of the second
    # and, of a 1-minute bolus starting now, all of it: 60 ug is too much, 40 fits.
    assert r.pump.request_bolus(DAY + 100, 60, 60) == codes.R_UG_24H
    assert r.pump.request_bolus(DAY + 100, 40, 60) == codes.OK
    r.run_to(DAY + HOUR + 600)  # both early boluses have left every window
    assert r.pump.request_bolus(DAY + HOUR + 600, 170, 600) == codes.R_UG_24H  # the 40 has not
    assert r.pump.request_bolus(DAY + HOUR + 600, 150, 600) == codes.OK


def test_clinician_bolus_limits():
    """SR-10: hard bolus amount and duration limits."""
    r = Rig(continuous(rate=1000, cap=3000))
    assert r.pump.request_bolus(0, 0, 600) == codes.R_AMOUNT
    assert r.pump.request_bolus(0, 2000, 600) == codes.R_AMOUNT
    assert r.pump.request_bolus(0, 100, 30) == codes.R_DURATION
    # 1000 ug in 60 s at 2000 ug/mL is 8.3 uL/s = 417 steps/s: within 3200
    assert r.pump.request_bolus(0, 1000, 60) == codes.OK


def test_motor_rate_refusal():
    from corekit import board
    slow = board(max_steps_per_s=20)
    r = Rig(continuous(rate=1000, cap=3000), brd=slow)
    # 500 ug in 60 s is 250 steps/s
    assert r.pump.request_bolus(0, 500, 60) == codes.R_RATE
    assert r.pump.request_bolus(0, 500, 3600) == codes.OK


def test_reservoir_refusal():
    r = Rig(continuous(rate=1000, cap=3000), fill_nl=3000000)
    # 3 mL in, empty threshold 1 mL: at most 2 mL (4000 ug) may go; 1500 ug = 0.75 mL is fine
    assert r.pump.request_bolus(0, 1500, 3600) == codes.OK
    r = Rig(continuous(rate=1000, cap=3000, conc=500), fill_nl=1500000)
    assert r.pump.request_bolus(0, 300, 3600) == codes.R_RESERVOIR  # 0.6 mL > 0.5 mL above empty


def test_not_programmed_and_too_many():
    r = Rig(None)
    assert r.pump.request_patient_bolus(0) == codes.R_NOT_PROGRAMMED
    r = Rig(continuous(rate=500, cap=1500))
    assert r.pump.request_patient_bolus(0) == codes.R_NOT_PROGRAMMED
    for k in range(4):
        assert r.pump.request_bolus(0, 10, 3600) == codes.OK
    assert r.pump.request_bolus(0, 10, 3600) == codes.R_TOO_MANY


def test_every_refusal_is_logged_with_reason():
    """SR-13"""
    r = Rig(dystonia())
    r.pump.request_patient_bolus(0)
    r.pump.request_patient_bolus(0)
    r.pump.request_bolus(0, 0, 600)
    assert _refusals(r) == [(codes.BOLUS_PATIENT, codes.R_LOCKOUT),
                            (codes.BOLUS_CLINICIAN, codes.R_AMOUNT)]


def test_lockout_survives_reprogramming():
    r = Rig(continuous(rate=500, cap=1500, patient_bolus=patient(lockout_min=60)))
    assert r.pump.request_patient_bolus(0) == codes.OK
    r.run_to(600)
    assert r.pump.program(600, continuous(rate=600, cap=1500,
                                          patient_bolus=patient(lockout_min=60))) is None
    assert r.pump.request_patient_bolus(600) == codes.R_LOCKOUT


def test_cap_keeps_one_motor_step_of_room():
    """SR-4: with 1000 nL steps of 4000 ug/mL drug (4 ug a step) the motor can be a step
    ahead of the schedule, so a bolus must leave that step free under the cap."""
    from corekit import board
    coarse = board(nl_per_step=1000)
    r = Rig(continuous(rate=250, conc=4000, cap=650), brd=coarse)
    r.run_to(HOUR)
    assert r.pump.request_bolus(HOUR, 400, 600) == codes.R_UG_24H
    assert r.pump.request_bolus(HOUR, 396, 600) == codes.OK
