# The simulator engine and scenario timeline (runs under MicroPython too); the run's figures
# come from the event log (SR-13).
from corekit import board, dystonia, continuous, DAY
from pumpsim.engine import Simulation
from pumpsim.scenario import seconds, Script, clock, ScenarioError


def test_time_strings():
    assert seconds("2d 08:30", "x") == 2 * DAY + 8 * 3600 + 30 * 60
    assert seconds("90m", "x") == 5400
    assert seconds("1h30m", "x") == 5400
    assert seconds("14d", "x") == 14 * DAY
    assert seconds(" 00:00:05", "x") == 5
    assert seconds(42, "x") == 42
    for bad in ("2x", "8:30:00:1", True, 1.5):
        try:
            seconds(bad, "at")
            raise AssertionError("accepted " + repr(bad))
        except ScenarioError:
            pass
    assert clock(2 * DAY + 3661) == "2d 01:01:01"


def test_script_repeats_and_orders():
    evs = [{"action": "press", "at": "0d 08:00", "every": "1d"},
           {"action": "refill", "at": "1d", "added_ul": 1, "count": 1}]
    script = Script(evs, 3 * DAY)
    seen = []
    while script.peek() is not None:
        t = script.peek()[0]
        seen.append((t, script.pop()["action"]))
    assert seen == [(8 * 3600, "press"), (DAY, "refill"), (DAY + 8 * 3600, "press"),
                    (2 * DAY + 8 * 3600, "press")]
    try:
        Script([{"action": "dance"}], DAY)
        raise AssertionError("unknown action accepted")
    except ScenarioError:
        pass


def test_simulation_summary_fields():
    evs = [{"action": "press", "at": "0d 07:30", "every": "1d"},
           {"action": "press", "at": "0d 08:00", "every": "1d"}]
    s = Simulation(board(), dystonia(), evs, 40000000).run(3 * DAY)
    for key in ("programmed_nl", "delivered_nl", "max_abs_error_steps", "boluses_given",
                "boluses_refused", "alarms", "reservoir_nl_end"):
        assert key in s, key
    assert s["boluses_given_by_kind"] == {"periodic": 24, "patient": 3}
    assert s["boluses_refused"] == {"lockout": 3}
    assert abs(s["programmed_nl"] - s["delivered_nl"]) < 20
    assert 0 <= s["max_abs_error_steps"] < 1
    assert s["reservoir_nl_end"] == 40000000 - s["delivered_nl"]


def test_fixed_tick_loop_matches_event_driven():
    a = Simulation(board(), dystonia(), (), 40000000).run(DAY // 2)
    b = Simulation(board(), dystonia(), (), 40000000).run(DAY // 2, fixed_tick_s=1)
    for key in ("programmed_nl", "delivered_nl", "boluses_given", "reservoir_nl_end"):
        assert a[key] == b[key], key


def test_bad_programme_raises_with_field():
    try:
        Simulation(board(), continuous(rate=-1), (), 1000000)
        raise AssertionError("accepted")
    except ScenarioError as e:
        assert "rate_ug_per_day" in str(e)


def test_every_scripted_action_runs():
    """Each action of docs/simulator.md, a concentration change and its bridge bolus included,
    runs through the engine."""
    evs = [{"action": "press", "at": "1h"},
           {"action": "bolus", "at": "2h", "amount_ug": 50, "duration_min": 10},
           {"action": "priming", "at": "3h"},
           {"action": "program", "at": "4h",
            "programme": continuous(rate=600, conc=1000, cap=2000, catheter_volume_ul=100)},
           {"action": "bridge", "at": "4h"},
           {"action": "alarm_test", "at": "5h"}, {"action": "silence", "at": "5h"},
           {"action": "ack", "at": "5h"}, {"action": "stop", "at": "6h"},
           {"action": "resume", "at": "7h"},
           {"action": "refill", "at": "8h", "added_ul": 20000}]
    prog = continuous(rate=600, conc=2000, cap=2000, catheter_volume_ul=100)
    s = Simulation(board(), prog, evs, 40000000).run(DAY)
    assert s["boluses_given_by_kind"] == {"clinician": 1, "priming": 1, "bridge": 1}
    assert s["boluses_refused"] == {"not_programmed": 1}
    assert 0 < s["reservoir_nl_end"] <= 20000000 and s["delivering_at_end"]
