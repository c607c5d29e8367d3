# The dosing core driving a 30-day (or longer) dystonia scenario on a small heap: four patient
# presses a day (one of them inside the lockout), a refill and acknowledgement every 14 days,
# an ideal virtual motor. Runs under MicroPython and CPython.
#
# Usage: micropython bench/mp_scenario.py DAYS [LIBDIR]
# LIBDIR holds pump/ and pumpsim/ precompiled to .mpy, as a board gets them; without it the
# sources are imported and compiled on the fly, which needs a larger heap. For the 68 KiB figure
# this script is precompiled too and run from LIBDIR (bench/run.py does all that):
#   cd LIBDIR && micropython -X heapsize=68k -m mp_scenario DAYS .
# It drives the core directly rather than through pumpsim.engine: the engine's TOML-shaped
# scenario handling would take a tenth of the heap, and a board has none of it either.
# Prints one line: days, steps, worst error, clock jumps, boluses, refusals, time, heap.
import gc
import sys
import time

_here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
if len(sys.argv) > 2:
    sys.path.insert(0, sys.argv[2])
else:
    sys.path.insert(0, _here + "/../firmware")
    sys.path.insert(0, _here + "/../sim")

from pump import codes  # noqa: E402
from pump.board import parse_board  # noqa: E402
from pump.core import Pump  # noqa: E402
from pumpsim.motor import VirtualMotor  # noqa: E402

DAY = 86400
PRESSES = (7 * 3600 + 1800, 8 * 3600 + 900, 14 * 3600, 21 * 3600)
REFILL_EVERY = 14 * DAY
REFILL_AT = 10 * 3600
PROGRAMME = {
    "mode": "flex", "concentration_ug_per_ml": 2000, "max_ug_per_24h": 4800,
    "low_reservoir_ul": 4000,
    "flex": {"cycle_days": 1, "days": [[[0, 2100], [360, 2400], [1320, 2100]]]},
    "periodic_boluses": [{"amount_ug": 250, "duration_min": 10, "every_min": 180,
                          "first_min": 60}],
    "patient_bolus": {"amount_ug": 50, "duration_min": 5, "lockout_min": 120,
                      "max_per_24h": 4, "max_ug_per_hour": 50},
}


def next_input(t):
    """The next scripted instant after t: a press, or a refill day's 10:00."""
    day = t // DAY
    best = None
    for d in (day, day + 1):
        for off in PRESSES + ((REFILL_AT,) if d and d * DAY % REFILL_EVERY == 0 else ()):
            x = d * DAY + off
            if x > t and (best is None or x < best):
                best = x
    return best


def main():
    days = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    board, err = parse_board({"nl_per_step": 20, "max_steps_per_s": 3200,
                              "reservoir_nl": 40000000, "tubing_volume_nl": 100000})
    pump = Pump(board, 0, 8)
    motor = VirtualMotor()
    pump.refill(0, 0, 0, 40000000)
    pump.program(0, PROGRAMME)
    motor.load(pump.plan)
    end = days * DAY
    jumps = given = refused = 0
    worst_n, worst_d = 0, 1
    seq = pump.log.seq
    t0 = time.ticks_ms() if hasattr(time, "ticks_ms") else int(time.time() * 1000)
    while pump.now_s < end:
        t = min(x for x in (pump.next_due_s, next_input(pump.now_s), end) if x is not None)
        pump.advance(t, motor.advance_to(t))
        jumps += 1
        if t % DAY in PRESSES:
            pump.request_patient_bolus(t)
        elif t % DAY == REFILL_AT:
            pump.refill(t, pump.reservoir_nl, pump.reservoir_nl, 40000000)
            for code in list(pump.alarms.table):
                pump.acknowledge(t, code)
        motor.load(pump.plan)
        i = pump.integral
        gap = abs((i.whole - motor.total_steps) * i.den + i.num)
        if gap * worst_d > worst_n * i.den:
            worst_n, worst_d = gap, i.den
        for rec in pump.log.since(seq):
            given += rec[2] == codes.E_BOLUS_START
            refused += rec[2] == codes.E_BOLUS_REFUSED
        seq = pump.log.seq
    t1 = time.ticks_ms() if hasattr(time, "ticks_ms") else int(time.time() * 1000)
    heap = ""
    if hasattr(gc, "mem_free"):
        gc.collect()
        heap = " heap_free=%d heap_used=%d" % (gc.mem_free(), gc.mem_alloc())
    error = worst_n / worst_d
    print("days=%d steps=%d error=%.6f error_ok=%d iterations=%d boluses=%d refused=%d ms=%d%s"
          % (days, motor.total_steps, error, 1 if error < 1 else 0, jumps, given, refused,
             t1 - t0, heap))


main()
