# Exact delivery (SR-1), modes, boluses overlaying basal, plans the step generator can execute.
from corekit import Rig, board, continuous, dystonia, patient, DAY, HOUR
from pump import codes


def test_continuous_day_is_exact():
    """SR-1: 1000 ug/day at 2000 ug/mL is 0.5 mL/day = 25000 steps of 20 nL."""
    r = Rig(continuous(rate=1000))
    r.run_to(DAY)
    assert r.pump.steps == 25000
    assert r.pump.programmed_nl() == (500000, 1)


def test_awkward_rate_never_drifts():
    """SR-1: 7 ug/day at 3989 ug/mL (a prime) on 3 nL steps is 0.00676... steps/s; the
    integral stays exact over a year and the motor never drifts a whole step."""
    b = board(nl_per_step=3)
    r = Rig(continuous(rate=7, conc=3989), brd=b)
    for day in range(1, 366):
        r.run_to(day * DAY)
        gap = r.exact_steps() - r.pump.steps
        assert 0 <= gap < 1, gap
    # exact: 365 days x 7 ug / 3989 ug/mL = 640.5 nL... x 1000 = 213,253.5 steps
    assert r.pump.steps == 365 * 7 * 1000000 // (3989 * 3)


def test_flex_rates_change_on_the_minute():
    r = Rig(dystonia())
    r.run_to(6 * HOUR)
    first = r.pump.steps
    # 00:00-06:00 at 2100 ug/day, plus two 250 ug periodic boluses (01:00, 04:00)
    expect = (2100 * 6 * HOUR * 1000000 // (DAY * 2000) + 2 * 250 * 1000000 // 2000) // 20
    assert first == expect, (first, expect)
    assert r.pump.plan.rate_num * 54 * 2000 * 20 == 2400 * 625 * r.pump.plan.rate_den


def test_periodic_boluses_every_three_hours():
    r = Rig(dystonia())
    r.run_to(DAY)
    starts = [e[1] for e in r.events(codes.E_BOLUS_START) if e[3] == codes.BOLUS_PERIODIC]
    assert starts == [HOUR + k * 3 * HOUR for k in range(8)]
    ends = [e[1] for e in r.events(codes.E_BOLUS_END)]
    assert ends == [s + 600 for s in starts]


def test_bolus_overlays_basal_exactly():
    r = Rig(continuous(rate=1000, cap=3000))
    r.run_to(HOUR)
    assert r.pump.request_bolus(HOUR, 200, 1800) == codes.OK
    r.run_to(2 * HOUR)
    # 2 h of basal plus the whole 200 ug bolus, at 2000 ug/mL and 20 nL/step
    exact = (1000 * 2 * HOUR * 1000000 / (DAY * 2000) + 200 * 1000000 / 2000) / 20
    assert abs(r.pump.steps - exact) < 1


def test_single_bolus_mode_then_stops():
    prog = {"mode": "bolus", "concentration_ug_per_ml": 500, "max_ug_per_24h": 100,
            "single_bolus": {"amount_ug": 50, "duration_min": 10}}
    r = Rig(prog)
    assert r.pump.delivering()
    r.run_to(HOUR)
    assert r.pump.steps == 50 * 1000000 // 500 // 20
    assert not r.pump.delivering()
    assert r.pump.next_due_s is None


def test_stopped_mode_delivers_nothing():
    r = Rig({"mode": "stopped", "concentration_ug_per_ml": 500, "max_ug_per_24h": 100})
    r.run_to(DAY)
    assert r.pump.steps == 0 and not r.pump.delivering()


def test_stop_and_resume():
    r = Rig(continuous(rate=1000, patient_bolus=patient()))
    r.run_to(HOUR)
    assert r.pump.request_patient_bolus(HOUR) == codes.OK
    r.run_to(HOUR + 60)
    r.pump.stop(HOUR + 60)
    assert r.pump.plan.steps == 0
    assert r.events(codes.E_BOLUS_ABORTED)[0][3:] == (codes.BOLUS_PATIENT, 60)
    before = r.pump.steps
    r.run_to(5 * HOUR)
    assert r.pump.steps == before
    assert r.pump.request_patient_bolus(5 * HOUR) == codes.R_STOPPED
    r.pump.resume(5 * HOUR)
    r.run_to(6 * HOUR)
    assert r.pump.steps > before
    assert [e[2] for e in r.events() if e[2] in (codes.E_STOP, codes.E_RESUME)] == \
        [codes.E_STOP, codes.E_RESUME]


def test_priming_fills_dead_volume_with_basal_paused():
    r = Rig(continuous(rate=1000, catheter_volume_ul=150))
    assert r.pump.request_priming(0) == codes.OK
    b = r.pump.boluses[0]
    # 100 uL tubing + 150 uL catheter at half of 3200 steps/s x 20 nL: 250000 / 32000 s
    assert b.end_s == 60  # at least MIN_BOLUS_S
    r.run_to(60)
    assert r.pump.steps == 250000 // 20  # no basal on top
    starts = r.events(codes.E_BOLUS_START)
    # what it pushes counts as drug at 2000 ug/mL: 250 uL is 500 ug
    assert starts[0][3:] == (codes.BOLUS_PRIMING, 500)


def test_priming_repeats_meet_the_24h_cap():
    """SR-4: priming counts as drug, so it cannot be repeated past the cap."""
    r = Rig(continuous(rate=1000, cap=2100, catheter_volume_ul=150))
    assert r.pump.request_priming(0) == codes.OK
    r.run_to(60)
    assert r.pump.request_priming(60) == codes.OK
    r.run_to(120)
    assert r.pump.request_priming(120) == codes.R_UG_24H


def test_bridge_bolus_keeps_dose_rate_at_old_concentration():
    r = Rig(continuous(rate=1000, conc=1000, catheter_volume_ul=150))
    assert r.pump.request_bridge(0) == codes.R_CONCENTRATION  # no change of drug yet
    assert r.pump.program(0, continuous(rate=1000, conc=2000, catheter_volume_ul=150)) is None
    assert r.pump.request_bridge(0) == codes.OK
    b = r.pump.boluses[0]
    # 250 uL of 1000 ug/mL at 1000 ug/day takes 0.25 days
    assert b.end_s == DAY // 4
    assert b.dose_ug == 250
    r.run_to(DAY // 4)
    assert r.pump.steps == 250000 // 20
    assert r.pump.old_drug_nl == 0
    # the ledger counted the old drug at its own concentration: 250 uL x 1000 ug/mL
    assert r.pump.ledger.total_pg == 250000 * 1000
    assert r.pump.request_bridge(DAY // 4) == codes.R_CONCENTRATION  # only once


def test_resent_programme_changes_nothing():
    """A retried commit of the programme in force must not restart its single bolus."""
    prog = {"mode": "bolus", "concentration_ug_per_ml": 500, "max_ug_per_24h": 100,
            "single_bolus": {"amount_ug": 50, "duration_min": 10}}
    r = Rig(prog)
    r.run_to(300)
    assert r.pump.program(300, dict(prog)) is None
    r.run_to(HOUR)
    assert len(r.events(codes.E_BOLUS_START)) == 1
    assert len(r.events(codes.E_PROGRAMME)) == 1
    # the pump keeps its own snapshot: a caller that edits its dict and sends it again is heard
    prog["single_bolus"]["amount_ug"] = 40
    prog["max_ug_per_24h"] = 200
    assert r.pump.program(HOUR, prog) is None
    assert len(r.events(codes.E_PROGRAMME)) == 2


def test_reprogramming_keeps_last_days_dose():
    """SR-4: a new programme is checked against what the last 24 h delivered: a single bolus
    programme sent again (changed) cannot pass its cap, and nothing passes the hard limit."""
    bolus = {"mode": "bolus", "concentration_ug_per_ml": 2000, "max_ug_per_24h": 1500,
             "single_bolus": {"amount_ug": 1000, "duration_min": 60}}
    r = Rig(bolus)
    r.run_to(2 * HOUR)
    again = dict(bolus, single_bolus={"amount_ug": 999, "duration_min": 60})
    assert r.pump.program(2 * HOUR, again) == ("single_bolus.amount_ug",
                                               "with the last 24 h's delivery it would exceed "
                                               "max_ug_per_24h")
    heavy = continuous(rate=5500, cap=6000)
    err = r.pump.program(2 * HOUR, heavy)
    assert err is not None and err[0] == "max_ug_per_24h"
    assert r.pump.program(2 * HOUR, continuous(rate=4900, cap=6000)) is None


def test_single_bolus_waits_for_resume_and_never_restarts():
    prog = {"mode": "bolus", "concentration_ug_per_ml": 500, "max_ug_per_24h": 100,
            "single_bolus": {"amount_ug": 50, "duration_min": 10}}
    r = Rig(None)
    r.pump.stop(0)
    assert r.pump.program(0, prog) is None
    assert r.pump.boluses == [] and not r.pump.delivering()
    r.pump.resume(0)
    assert [b.kind for b in r.pump.boluses] == [codes.BOLUS_SINGLE]
    r.run_to(300)
    r.pump.stop(300)
    r.pump.resume(300)
    assert r.pump.boluses == [] and not r.pump.delivering()
    r.run_to(HOUR)
    assert r.pump.steps == 25 * 1000000 // 500 // 20  # half of it, once


def test_periodic_bolus_missed_while_stopped_is_logged():
    r = Rig(dystonia())
    r.pump.stop(0)
    r.run_to(2 * HOUR)
    refused = [e[3:] for e in r.events(codes.E_BOLUS_REFUSED)]
    assert refused == [(codes.BOLUS_PERIODIC, codes.R_STOPPED)]


def test_periodic_bolus_starts_when_board_wakes_late():
    """A late board gives the rest of the slot at the programmed rate: what the schedule
    counts, never more."""
    r = Rig(dystonia())
    r.pump.advance(HOUR + 60, 0)  # a board that overslept the 01:00 bolus by a minute
    starts = [e[1:] for e in r.events(codes.E_BOLUS_START)]
    assert starts == [(HOUR + 60, codes.E_BOLUS_START, codes.BOLUS_PERIODIC, 225)]
    assert r.pump.boluses[0].end_s == HOUR + 600
    r.pump.advance(5 * HOUR, 0)  # and one that slept through the 04:00 bolus entirely
    refused = [e[3:] for e in r.events(codes.E_BOLUS_REFUSED)]
    assert refused == [(codes.BOLUS_PERIODIC, codes.R_MISSED)]


def test_plan_is_bresenham_phase_and_expires():
    """The plan gives the generator the phase of the next step and a hard step count."""
    r = Rig(continuous(rate=1000))
    r.run_to(1000)
    p = r.pump.plan
    assert p.t0_s == 1000 and p.until_s == DAY
    i = r.pump.integral
    assert (p.phase_num, p.phase_den) == (i.num, i.den)
    assert p.steps == i.whole_after(p.rate_num, p.rate_den, DAY - 1000) - i.whole


def test_late_call_stops_delivery_at_plan_end():
    """SR-11: a board that calls advance() late has its motor stopped by the plan's step
    count; the programmed integral stops there too, so nothing is made up afterwards."""
    r = Rig(continuous(rate=1000))
    planned = r.pump.plan.steps
    r.pump.advance(DAY + 3600, planned)
    assert r.pump.steps == planned == r.pump.integral.whole


def test_concentration_change_counts_old_drug_at_its_strength():
    """SR-4: after 4000 -> 100 ug/mL the 2 mL line still holds 8000 ug of the old drug; a
    programme that would push it out within the day is refused for the hard limit."""
    def c(conc, rate, cap):
        return continuous(rate=rate, conc=conc, cap=cap, catheter_volume_ul=2000)
    r = Rig(c(4000, 200, 500))
    r.run_to(DAY)
    err = r.pump.program(DAY, c(100, 5000, 6000))
    assert err is not None and err[0] == "max_ug_per_24h"
    assert r.pump.program(DAY, c(2000, 200, 500)) is None
    assert (r.pump.old_drug_nl, r.pump.old_conc_ug_per_ml) == (2100000, 4000)
    # the pump wakes when the old drug is used up, so the dose ledger has a point there
    r.run_to(30 * DAY)
    assert r.pump.old_drug_nl == 0
    assert r.pump.ledger.total_pg == (200 * DAY // DAY) * 1000000 * 30 + 2100000 * 2000


def test_boluses_end_with_the_single_bolus():
    """SR-13: a clinician bolus still running when mode bolus finishes is logged aborted."""
    prog = {"mode": "bolus", "concentration_ug_per_ml": 500, "max_ug_per_24h": 200,
            "single_bolus": {"amount_ug": 100, "duration_min": 10}}
    r = Rig(prog)
    assert r.pump.request_bolus(0, 50, 3600) == codes.OK
    r.run_to(HOUR)
    assert [e[3] for e in r.events(codes.E_BOLUS_ABORTED)] == [codes.BOLUS_CLINICIAN]
    assert r.pump.boluses == []
