# A dystonia scenario run by the simulator engine under MicroPython (also runs on CPython).
# Usage: micropython bench/mp_scenario.py DAYS [LIBDIR]
# LIBDIR holds pump/ and pumpsim/ precompiled to .mpy, as a board gets them; without it the
# sources are imported and compiled on the fly, which needs a larger heap. For the 64 KiB heap
# figure this script is precompiled too and run from LIBDIR (bench/run.py does all that):
#   cd LIBDIR && micropython -X heapsize=64k -m mp_scenario DAYS .
# Prints one line: days, steps, worst error, iterations, wall time, heap use.
import sys
import time

_here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
if len(sys.argv) > 2:
    sys.path.insert(0, sys.argv[2])
else:
    sys.path.insert(0, _here + "/../firmware")
    sys.path.insert(0, _here + "/../sim")

from pump.board import parse_board  # noqa: E402
from pumpsim.engine import Simulation  # noqa: E402

BOARD = {"nl_per_step": 20, "max_steps_per_s": 3200, "reservoir_nl": 40000000,
         "tubing_volume_nl": 100000}
PROGRAMME = {
    "mode": "flex", "concentration_ug_per_ml": 2000, "max_ug_per_24h": 4800,
    "low_reservoir_ul": 4000,
    "flex": {"cycle_days": 1, "days": [[[0, 2100], [360, 2400], [1320, 2100]]]},
    "periodic_boluses": [{"amount_ug": 250, "duration_min": 10, "every_min": 180,
                          "first_min": 60}],
    "patient_bolus": {"amount_ug": 50, "duration_min": 5, "lockout_min": 120,
                      "max_per_24h": 4, "max_ug_per_hour": 50},
}
EVENTS = [
    {"action": "press", "at": "0d 07:30", "every": "1d"},
    {"action": "press", "at": "0d 08:15", "every": "1d"},
    {"action": "press", "at": "0d 14:00", "every": "1d"},
    {"action": "press", "at": "0d 21:00", "every": "1d"},
    {"action": "refill", "at": "14d 10:00", "every": "14d", "added_ul": 40000},
    {"action": "ack", "at": "14d 10:01", "every": "14d"},
]


def main():
    days = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    board, err = parse_board(BOARD)
    sim = Simulation(board, PROGRAMME, EVENTS, 40000000, log_size=16)
    t0 = time.ticks_ms() if hasattr(time, "ticks_ms") else int(time.time() * 1000)
    sim.run(days * 86400, summary=False)
    t1 = time.ticks_ms() if hasattr(time, "ticks_ms") else int(time.time() * 1000)
    heap = ""
    try:
        import gc
        gc.collect()
        heap = " heap_free=%d heap_used=%d" % (gc.mem_free(), gc.mem_alloc())
    except (ImportError, AttributeError):
        pass
    error = sim.err_n / sim.err_d
    print("days=%d steps=%d error=%.6f error_ok=%d iterations=%d boluses=%d refused=%d ms=%d%s"
          % (days, sim.motor.total_steps, error, 1 if error < 1 else 0, sim.iterations,
             sum(sim.given.values()), sum(sim.refused.values()), t1 - t0, heap))


main()
