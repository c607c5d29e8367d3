# Programme validation (SR-8) and schedule arithmetic.
from corekit import DAY, Rig, board, continuous, dystonia, patient
from pump.programme import parse_programme
from pump import codes


def _err(d, brd=None):
    prog, err = parse_programme(d, brd or board())
    assert prog is None or err is None
    return err


def test_valid_modes_parse():
    for d in (continuous(), dystonia(), {"mode": "stopped", "concentration_ug_per_ml": 500,
                                         "max_ug_per_24h": 100},
              {"mode": "bolus", "concentration_ug_per_ml": 500, "max_ug_per_24h": 100,
               "single_bolus": {"amount_ug": 50, "duration_min": 10}}):
        assert _err(d) is None, d


def test_rejections_name_field_and_reason():
    """SR-8, SR-10: each bad programme is rejected whole with the offending field; the hard
    limits bound concentration, rate and lockout whatever the clinician asks."""
    cases = [
        (continuous(mode="fast"), "mode"),
        (continuous(conc=5), "concentration_ug_per_ml"),
        (continuous(conc=5000), "concentration_ug_per_ml"),
        (continuous(rate=7000, cap=6000), "rate_ug_per_day"),
        (continuous(rate=True, cap=1000), "rate_ug_per_day"),
        (continuous(rate=100.5, cap=1000), "rate_ug_per_day"),
        (continuous(speed=3), "speed"),
        (continuous(low_reservoir_ul=500), "low_reservoir_ul"),
        (continuous(low_reservoir_ul=11000), "low_reservoir_ul"),
        (continuous(low_reservoir_ul=2000, empty_reservoir_ul=2000), "empty_reservoir_ul"),
        (continuous(rate=1000, cap=900), "max_ug_per_24h"),
        (continuous(flex={"cycle_days": 1, "days": [[[0, 1]]]}), "flex"),
        (continuous(patient_bolus=patient(lockout_min=10)), "patient_bolus.lockout_min"),
        (continuous(patient_bolus=patient(duration_min=90, lockout_min=60)),
         "patient_bolus.lockout_min"),
        (continuous(patient_bolus=patient(amount=60, max_ug_per_hour=50)),
         "patient_bolus.max_ug_per_hour"),
        (continuous(rate=1000, cap=1020, patient_bolus=patient(amount=50)),
         "patient_bolus.amount_ug"),
        (continuous(patient_bolus=dict(patient(), colour=1)), "patient_bolus.colour"),
    ]
    for d, field in cases:
        err = _err(d)
        assert err is not None and err[0] == field, (field, err)
        assert isinstance(err[1], str) and err[1]


def test_flex_shape_rules():
    def flex(days, n=None):
        return {"mode": "flex", "concentration_ug_per_ml": 1000, "max_ug_per_24h": 3000,
                "flex": {"cycle_days": n or len(days), "days": days}}
    assert _err(flex([[[0, 100], [60, 200]]])) is None
    assert _err(flex([[[30, 100]]]))[0] == "flex.days[0][0].start_min"
    assert _err(flex([[[0, 100], [60, 200], [60, 300]]]))[0] == "flex.days[0][2].start_min"
    assert _err(flex([[[0, 100], [1440, 200]]]))[0] == "flex.days[0][1].start_min"
    assert _err(flex([[[0, 100]]], 2))[0] == "flex.days"
    assert _err(flex([[[0, 100]]] * 8))[0] == "flex.cycle_days"
    many = [[i * 29, 100] for i in range(49)]
    assert _err(flex([many]))[0] == "flex.days[0]"
    assert _err(flex([[[0, 100]]] * 7)) is None


def test_periodic_rules():
    d = dystonia()
    d["periodic_boluses"][0]["duration_min"] = 200
    assert _err(d)[0] == "periodic_boluses[0].duration_min"
    d = dystonia()
    d["periodic_boluses"].append({"amount_ug": 10, "duration_min": 10, "every_min": 180,
                                  "first_min": 65})
    assert _err(d)[0] == "periodic_boluses"
    d = dystonia()
    d["periodic_boluses"][0]["first_min"] = 1435
    d["periodic_boluses"][0]["every_min"] = 1440
    assert _err(d) is None  # 23:55 for 10 minutes crosses midnight, alone: fine


def test_mode_specific_fields_rejected_elsewhere():
    assert _err(continuous(periodic_boluses=[]))[0] == "periodic_boluses"
    assert _err(continuous(single_bolus={"amount_ug": 1, "duration_min": 1}))[0] == \
        "single_bolus"
    d = {"mode": "stopped", "concentration_ug_per_ml": 500, "max_ug_per_24h": 100,
         "patient_bolus": patient()}
    assert _err(d)[0] == "patient_bolus"


def test_motor_speed_limit():
    slow = board(max_steps_per_s=1)
    # 1000 ug/day at 10 ug/mL is 1.157 uL/s = 58 steps/s at 20 nL/step: too fast.
    assert _err(continuous(rate=1000, conc=10), slow)[0] == "concentration_ug_per_ml"


def test_window_max_continuous_and_flex():
    prog, _ = parse_programme(continuous(rate=1000), board())
    assert prog.sched_max_ug_24h == 1000
    prog, _ = parse_programme(dystonia(), board())
    # (6 h x 2100 + 16 h x 2400 + 2 h x 2100) / 24 + 8 x 250
    assert prog.sched_max_ug_24h == 2300 + 2000
    two = {"mode": "flex", "concentration_ug_per_ml": 1000, "max_ug_per_24h": 3000,
           "flex": {"cycle_days": 2, "days": [[[0, 100], [720, 2000]], [[0, 2000],
                                                                        [720, 100]]]}}
    prog, err = parse_programme(two, board())
    assert err is None
    # The window from day 0 noon to day 1 noon runs at 2000 throughout.
    assert prog.sched_max_ug_24h == 2000


def test_window_max_counts_partial_periodic_exactly():
    d = {"mode": "flex", "concentration_ug_per_ml": 1000, "max_ug_per_24h": 3000,
         "flex": {"cycle_days": 2, "days": [[[0, 0]], [[0, 0]]]},
         "periodic_boluses": [{"amount_ug": 100, "duration_min": 60, "every_min": 1440,
                               "first_min": 0}]}
    prog, err = parse_programme(d, board())
    assert err is None
    assert prog.sched_max_ug_24h == 100  # any 24 h window holds exactly one bolus-worth


def test_basal_lookup_and_midnight():
    prog, _ = parse_programme(dystonia(), board())
    anchor = 3 * DAY
    assert prog.basal_at(anchor, anchor) == (2100, anchor + 360 * 60)
    assert prog.basal_at(anchor + 360 * 60, anchor) == (2400, anchor + 1320 * 60)
    assert prog.basal_at(anchor + DAY - 1, anchor) == (2100, anchor + DAY)
    assert prog.basal_at(anchor + DAY, anchor) == (2100, anchor + DAY + 360 * 60)


def test_periodic_times_wrap_to_next_day():
    prog, _ = parse_programme(dystonia(), board())
    assert prog.periodic_next(0, 0) == (3600, 0)
    assert prog.periodic_next(3600, 0) == (3600, 0)
    assert prog.periodic_next(3601, 0) == (3600 + 3 * 3600, 0)
    assert prog.periodic_next(22 * 3600 + 1, 0) == (DAY + 3600, 0)


def test_mode_names_round_trip():
    for i, name in enumerate(codes.MODE_NAMES):
        assert codes.MODE_NAMES.index(name) == i


def test_a_board_may_tighten_the_hard_limits():
    """SR-10, SR-20: a board file's [limits] bound every programme and request on that board,
    and may not loosen the compiled ones."""
    from pump.board import parse_board
    motor = {"nl_per_step": 20, "max_steps_per_s": 3200, "reservoir_nl": 20000000}
    brd, err = parse_board(motor, {"max_ug_per_day": 3000, "max_bolus_ug": 500,
                                   "max_conc_ug_per_ml": 1000})
    assert err is None
    prog, err = parse_programme(continuous(rate=2500, conc=1000, cap=3500), brd)
    assert err == ("max_ug_per_24h", "out of range 1..3000")
    prog, err = parse_programme(continuous(rate=500, conc=2000, cap=1000), brd)
    assert err[0] == "concentration_ug_per_ml"
    rig = Rig(continuous(rate=500, conc=1000, cap=2000), fill_nl=20000000, brd=brd)
    assert rig.pump.request_bolus(0, 600, 600) == codes.R_AMOUNT
    assert rig.pump.request_bolus(0, 500, 600) == codes.OK
    assert parse_board(motor, {"max_ug_per_day": 7000})[1][0] == "limits.max_ug_per_day"
    assert parse_board(motor, {"colour": 1})[1][0] == "limits.colour"
