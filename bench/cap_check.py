# Cost of one bolus request's 24 h cap check in the worst legal programme: a 7-day flex cycle
# of 48 steps a day, 8 periodic boluses with co-prime durations (48 a day), a day of hourly
# patient boluses in the ledger and 3 boluses running. Runs under MicroPython
# and CPython: python bench/cap_check.py | micropython bench/cap_check.py [LIBDIR]
import sys
import time

_here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
if len(sys.argv) > 1:
    sys.path.insert(0, sys.argv[1])
else:
    sys.path.insert(0, _here + "/../firmware")

from pump.board import parse_board  # noqa: E402
from pump.core import Pump  # noqa: E402

DAY = 86400


def ms():
    if hasattr(time, "ticks_us"):
        return time.ticks_us() / 1000
    return time.perf_counter() * 1000


def main():
    board, err = parse_board({"nl_per_step": 20, "max_steps_per_s": 3200,
                              "reservoir_nl": 40000000})
    days = [[[30 * j, 100 + (j * 7 + d * 13) % 50] for j in range(48)] for d in range(7)]
    durs = (23, 29, 19, 17, 13, 11, 7, 5)
    prog = {"mode": "flex", "concentration_ug_per_ml": 500, "max_ug_per_24h": 6000,
            "flex": {"cycle_days": 7, "days": days},
            "periodic_boluses": [{"amount_ug": 5, "duration_min": durs[i], "every_min": 240,
                                  "first_min": 30 * i} for i in range(8)],
            "patient_bolus": {"amount_ug": 10, "duration_min": 15, "lockout_min": 15,
                              "max_per_24h": 24, "max_ug_per_hour": 100}}
    pump = Pump(board, 0, 16)
    pump.refill(0, 0, 0, 40000000)
    t0 = ms()
    if pump.program(0, prog) is not None:
        raise SystemExit("programme rejected")
    parse_ms = ms() - t0
    t = 0
    spent = 0
    while t < DAY:  # a day of hourly patient boluses: ledger points
        t += 3600
        while pump.now_s < t:
            nxt = pump.next_due_s
            step_to = t if nxt is None or nxt > t else nxt
            pump.advance(step_to, 0)  # steps do not matter for the cost
        t0 = ms()
        pump.request_patient_bolus(t)
        spent += ms() - t0
    t += 1800
    while pump.now_s < t:
        nxt = pump.next_due_s
        pump.advance(t if nxt is None or nxt > t else nxt, 0)
    for amount, dur in ((100, DAY), (50, 7200)):
        pump.request_bolus(t, amount, dur)
    t0 = ms()
    r = pump.request_bolus(t, 1, 600)
    last = ms() - t0
    print("programme validation %.1f ms; patient request %.1f ms on average over a day; "
          "clinician request with %d ledger points and %d boluses running %.1f ms (answer %d)"
          % (parse_ms, spent / 24, pump.ledger.count, len(pump.boluses) - 1, last, r))

main()
