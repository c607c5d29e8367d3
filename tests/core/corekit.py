# Helpers for the core tests, which run under both pytest (CPython) and tests/core/mp_run.py
# (MicroPython unix port): plain functions, plain asserts, no pytest features.
from pump import codes
from pump.board import parse_board
from pump.core import Pump

DAY = 86400
HOUR = 3600


def board(**over):
    d = {"nl_per_step": 20, "max_steps_per_s": 3200, "reservoir_nl": 40000000,
         "tubing_volume_nl": 100000}
    d.update(over)
    b, err = parse_board(d)
    assert err is None, err
    return b


def continuous(rate=1000, conc=2000, cap=None, **over):
    d = {"mode": "continuous", "concentration_ug_per_ml": conc, "rate_ug_per_day": rate,
         "max_ug_per_24h": cap or rate + 500}
    d.update(over)
    return d


def patient(amount=50, duration_min=5, lockout_min=60, max_per_24h=6, max_ug_per_hour=100):
    return {"amount_ug": amount, "duration_min": duration_min, "lockout_min": lockout_min,
            "max_per_24h": max_per_24h, "max_ug_per_hour": max_ug_per_hour}


def dystonia():
    return {"mode": "flex", "concentration_ug_per_ml": 2000, "max_ug_per_24h": 4800,
            "low_reservoir_ul": 4000,
            "flex": {"cycle_days": 1, "days": [[[0, 2100], [360, 2400], [1320, 2100]]]},
            "periodic_boluses": [{"amount_ug": 250, "duration_min": 10, "every_min": 180,
                                  "first_min": 60}],
            "patient_bolus": patient(50, 5, 120, 4, 50)}


class Rig:
    """A pump with an ideal motor: steps issued are exactly what each plan asks for."""

    def __init__(self, programme=None, fill_nl=40000000, brd=None, log_size=512):
        self.board = brd or board()
        self.pump = Pump(self.board, 0, log_size)
        self.truth_nl = fill_nl
        assert self.pump.refill(0, 0, 0, fill_nl) == codes.OK
        if programme is not None:
            err = self.pump.program(0, programme)
            assert err is None, err

    def run_to(self, t):
        """Advance through every due instant up to t, as a board would."""
        pump = self.pump
        while pump.now_s < t:
            nxt = pump.next_due_s
            step_to = t if nxt is None or nxt > t else nxt
            p = pump.plan
            due = 0
            if p.rate_num:
                due = (p.phase_num * p.rate_den + p.rate_num * (step_to - p.t0_s) *
                       p.phase_den) // (p.phase_den * p.rate_den)
                due = min(due, p.steps)
            self.truth_nl -= due * self.board.nl_per_step
            pump.advance(step_to, due)

    def events(self, code=None):
        return [e for e in self.pump.log.since(0) if code is None or e[2] == code]

    def exact_steps(self):
        i = self.pump.integral
        return i.whole + i.num / i.den
