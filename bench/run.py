"""Performance figures for the dosing core and simulator, measured in one run.

    python bench/run.py            # all figures
    python bench/run.py --quick    # shorter naive-loop comparison

1. One simulated year of examples/dystonia-flex.toml on CPython, event-driven (target <= 5 s).
2. Event-driven against a naive fixed 1-second tick loop over the same core and scenario, over
   the same simulated days, timed back to back in this process: the ratio is what counts on a
   shared, noisy machine.
3. The same core under the MicroPython unix port, modules precompiled with mpy-cross as a
   board gets them (bench/mp_scenario.py): 30 and 365 simulated days in a 68 KiB heap, and in
   a 256 KiB one to show what the garbage collector costs when the heap is tight.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _d in ("firmware", "sim", "host"):
    sys.path.insert(0, os.path.join(ROOT, _d))

from pumpsim.engine import Simulation  # noqa: E402
from pumpsim.files import load_scenario  # noqa: E402

SCENARIO = os.path.join(ROOT, "examples", "dystonia-flex.toml")
DAY = 86400


def simulate(days, fixed_tick_s=0):
    sc = load_scenario(SCENARIO)
    board, programme, events, fill = sc.board, sc.programme, sc.events, sc.fill_nl
    sim = Simulation(board, programme, events, fill)
    t0 = time.perf_counter()
    summary = sim.run(days * DAY, fixed_tick_s=fixed_tick_s)
    return time.perf_counter() - t0, summary


def micropython(days, heap):
    mp, cross = shutil.which("micropython"), shutil.which("mpy-cross")
    if not mp or not cross:
        return None
    with tempfile.TemporaryDirectory() as lib:
        for package, src in (("pump", "firmware/pump"), ("pumpsim", "sim/pumpsim")):
            os.makedirs(os.path.join(lib, package))
            for name in os.listdir(os.path.join(ROOT, src)):
                if name.endswith(".py") and name != "files.py":
                    subprocess.run([cross, "-O3", "-o",
                                    os.path.join(lib, package, name[:-3] + ".mpy"),
                                    os.path.join(ROOT, src, name)], check=True)
        subprocess.run([cross, "-O3", "-o", os.path.join(lib, "mp_scenario.mpy"),
                        os.path.join(ROOT, "bench", "mp_scenario.py")], check=True)
        r = subprocess.run([mp, "-X", "heapsize=" + heap, "-m", "mp_scenario", str(days), "."],
                           cwd=lib, capture_output=True, text=True, timeout=600)
        return (r.stdout + r.stderr).strip()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    compare_days = 2 if args.quick else 7

    year_s, year = simulate(365)
    print(f"CPython, event-driven, 365 days: {year_s:.3f} s "
          f"({year['iterations']} clock jumps, {year['steps']} steps, "
          f"worst error {year['max_abs_error_steps']:.6f} steps)")

    ev_s, ev = simulate(compare_days)
    naive_s, naive = simulate(compare_days, fixed_tick_s=1)
    same = all(ev[k] == naive[k] for k in ("programmed_nl", "delivered_nl", "boluses_given"))
    print(f"{compare_days} days, same core and scenario: event-driven {ev_s:.4f} s "
          f"({ev['iterations']} jumps), 1-second tick loop {naive_s:.3f} s "
          f"({naive['iterations']} ticks); ratio {naive_s / ev_s:.0f}x; same results: {same}")
    print(f"  naive loop extrapolated to 365 days: {naive_s * 365 / compare_days:.0f} s")

    for heap in ("68k", "256k"):  # the target, and one roomy enough that GC seldom runs
        for days in (30, 365):
            out = micropython(days, heap)
            print(f"MicroPython -X heapsize={heap}, {days} days: "
                  f"{out or 'micropython not installed'}")


if __name__ == "__main__":
    main()
