"""pumpctl — drive an OpenITB pump or its simulator from the host.

Commands:
  pumpctl sim SCENARIO.toml [--days N] [--json]
      Run the scenario on the simulated board (virtual clock, motor and reservoir; the real
      dosing core) and print a summary. --days overrides the scenario's `days` (default 30).
      --json prints the summary as JSON: programmed_nl, delivered_nl, max_abs_error_steps,
      boluses_given, boluses_refused (by reason), alarms (code, first time), reservoir_nl_end...

Exit status: 0 on success, 2 for a bad scenario, board or programme (the message names the
offending field and why).
"""
import argparse
import json
import os
import sys

from pumpsim.engine import Simulation
from pumpsim.files import load_scenario
from pumpsim.scenario import ScenarioError, clock

PROG = "pumpctl"


class CommandError(Exception):
    """A user-facing failure: printed as 'pumpctl: message', exit status 2."""


def _ml(nl):
    return f"{nl / 1e6:.3f} mL"


def format_summary(s, title):
    lines = [
        f"{title}: {s['days']:g} days on board '{s['board']}' ({s['nl_per_step']} nL/step)",
        f"  programmed   {_ml(s['programmed_nl'])}",
        f"  delivered    {_ml(s['delivered_nl'])}  ({s['steps']} steps)",
        f"  worst error  {s['max_abs_error_steps']:.6f} steps (bound: 1)",
        f"  reservoir    {_ml(s['reservoir_nl_end'])} at the end"
        + ("" if s["delivering_at_end"] else "  — delivery stopped"),
    ]
    if s["refill_forecast_s"] is not None:
        lines.append(f"  refill by    {clock(s['refill_forecast_s'])} "
                     "(low threshold, every allowed patient bolus taken)")
    given = ", ".join(f"{k} {v}" for k, v in sorted(s["boluses_given_by_kind"].items()))
    lines.append(f"  boluses      {s['boluses_given']} given" + (f" ({given})" if given else ""))
    if s["boluses_refused"]:
        refused = ", ".join(f"{k} {v}" for k, v in sorted(s["boluses_refused"].items()))
        lines.append(f"  refused      {sum(s['boluses_refused'].values())} ({refused})")
    for a in s["alarms"]:
        lines.append(f"  alarm        {a['code']}: first at {a['first']}, raised {a['count']}x")
    if s["active_alarms"]:
        lines.append(f"  active now   {', '.join(s['active_alarms'])}")
    lines.append(f"  {s['events']} logged events, {s['iterations']} clock jumps")
    return "\n".join(lines)


def cmd_sim(args):
    try:
        board, programme, events, fill, days = load_scenario(args.scenario)
        days = args.days if args.days is not None else (days or 30)
        if not isinstance(days, int) or days <= 0:
            raise CommandError("--days must be a positive whole number")
        sim = Simulation(board, programme, events, fill)
        summary = sim.run(days * 86400)
    except ScenarioError as e:
        raise CommandError(f"{args.scenario}: {e}") from None
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True))
    else:
        print(format_summary(summary, args.scenario))


def build_parser():
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.splitlines()[2:]))
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sim", help="run a scenario on the simulated board")
    s.add_argument("scenario", help="scenario file (TOML)")
    s.add_argument("--days", type=int, help="simulated days (default: the scenario's, or 30)")
    s.add_argument("--json", action="store_true", help="print the summary as JSON")
    s.set_defaults(func=cmd_sim)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except CommandError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
