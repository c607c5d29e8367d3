"""The occlusion test's figures (IEC 60601-2-24 style; docs/occlusion.md), from the same trial()
that tests/test_occlusion.py asserts on: the real dosing core, pumphw.stall and pumpsim.line on
the virtual board, stepped a second at a time as pumpapp.App.step does.

    python bench/occlusion.py                    # the table in docs/occlusion.md
    python bench/occlusion.py --compliance-ul 2  # another line (time and bolus scale with it)

Per rate: the time from occlusion to the motor_stall alarm (and, for comparison, with the
first version's criterion alone: driver.stall_steps = 320 unmoved steps), how long after the
rotor first refused a step it came, the volume the line held at the alarm and the volume
released when the occlusion was relieved 10 min later, and what the patient missed meanwhile.
"""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _d in ("firmware", "sim", "host", "tests"):
    sys.path.insert(0, os.path.join(ROOT, _d))

import test_occlusion as t  # noqa: E402

PARTIAL = (
    # (label, case, evidence, restriction in nL/h at stall pressure or None for occlude(1))
    ("low, passing 50 % of the rate", "low", "encoder", 2083 // 2),
    ("intermediate, passing 50 %", "intermediate", "encoder", 20833 // 2),
    ("intermediate, passing 50 %", "intermediate", "diag", 20833 // 2),
    ("intermediate, passing 80 %", "intermediate", "encoder", 20833 * 8 // 10),
    ("intermediate, passing 90 %", "intermediate", "encoder", 20833 * 9 // 10),
    ("intermediate, passing 90 %", "intermediate", "diag", 20833 * 9 // 10),
    ("bolus, 1 permille of the open line", "bolus", "encoder", None),
    ("bolus, 1 permille of the open line", "bolus", "diag", None),
)
WHY = {0: "-", 1: "blocked", 2: "volume", 3: "short"}


def hms(s):
    if s is None:
        return "none"
    return "%d:%02d:%02d" % (s // 3600, s // 60 % 60, s % 60)


def ug(nl):
    return nl * t.CONC / 1000000


def partial(case, evidence, passing_nl_per_h, compliance_nl):
    """A partial occlusion's figures: a restriction (nL/h at stall pressure) through trial(),
    or occlude(1) (1 permille of the open line) to the alarm."""
    if passing_nl_per_h is not None:
        f, r = t.trial(case, evidence, compliance_nl, passing_nl_per_h=passing_nl_per_h)
        f.setdefault("stored_nl", r.line.stored_nl)     # no alarm: as it stands at the limit
        return f
    r = t.Rig(case, evidence, compliance_nl)
    r.start()
    n, d = r.pump.programmed_nl()
    out = r.line.patient_nl
    r.line.occlude(1)
    alarm = r.run_until_alarm(t.LIMIT_S)
    n2, d2 = r.pump.programmed_nl()
    return {"alarm_s": None if alarm is None else alarm - t.T_OCC, "why": r.stall.last,
            "refused_s": None if r.first_refused_s is None else r.first_refused_s - t.T_OCC,
            "stored_nl": r.line.stored_nl, "programmed_nl": n2 // d2 - n // d,
            "patient_nl": r.line.patient_nl - out}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--compliance-ul", type=int, default=t.COMPLIANCE_NL // 1000,
                    help="the line's compliance up to stall pressure, uL (default %(default)s)")
    args = ap.parse_args()
    c = args.compliance_ul * 1000
    print(f"virtual board, {t.CONC} ug/mL, line compliance {c} nL to stall pressure; "
          f"occluded at t = {t.T_OCC} s, relieved {t.HOLD_S} s after the alarm\n")
    head = ("| rate | nL/s | evidence | fill C/r | alarm after | after 1st refused | "
            "320-step criterion | lost steps | held at alarm | released | missed |")
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for case in t.RATES:
        num, den = t.rate_nl_per_s(case)
        fill = c * den // num
        for evidence in ("encoder", "diag"):
            f, _ = t.trial(case, evidence, c)
            old, _ = t.trial(case, evidence, c, confirm=0, window=0)
            print(f"| {case} | {num / den:.2f} | {evidence} | {hms(fill)} | {hms(f['alarm_s'])}"
                  f" | {f['alarm_s'] - f['refused_s']} s | {hms(old['alarm_s'])} | "
                  f"{f['lost_steps']} | {f['stored_nl']} nL ({ug(f['stored_nl']):.1f} ug) | "
                  f"{f['released_nl']} nL ({ug(f['released_nl']):.1f} ug) | "
                  f"{f['programmed_nl'] - f['patient_nl']} nL |")
    print("\npartial occlusions\n")
    print("| occlusion | evidence | alarm after | after 1st refused | criterion | held at alarm | "
          "patient got (to the alarm, or in 3 days) |")
    print("|---|---|---|---|---|---|---|")
    for label, case, evidence, passing in PARTIAL:
        f = partial(case, evidence, passing, c)
        after = "-" if f["alarm_s"] is None or f["refused_s"] is None else \
            f"{f['alarm_s'] - f['refused_s']} s"
        got = f"{f['patient_nl'] * 100 // f['programmed_nl']} %"
        print(f"| {label} | {evidence} | {hms(f['alarm_s'])} | {after} | "
              f"{WHY[f['why']] if f['alarm_s'] is not None else '-'} | "
              f"{f['stored_nl']} nL | {got} |")


if __name__ == "__main__":
    main()
