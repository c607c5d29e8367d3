"""pumpctl — drive an OpenITB pump or its simulator from the host.

Simulate:
  pumpctl sim SCENARIO.toml [--days N] [--json] [--report OUTDIR]
      Run the scenario on the simulated board (virtual clock, motor and reservoir; the real
      dosing core) and print a summary (--json: programmed_nl, delivered_nl,
      max_abs_error_steps, boluses_given, boluses_refused, alarms, reservoir_nl_end ...).
      --report: also write OUTDIR/index.html with plots beside it (dose rate, cumulative
      delivery and error, reservoir, bolus and alarm timeline, IEC 60601-2-24 trumpet
      curve). Runs longer than a week show their progress on stderr.
  pumpctl sim SCENARIO.toml --serve [HOST:PORT | pty] [--speed X] [--keys FILE] [--days N]
      Serve the simulated pump (the scenario's board, programme and fill; its scripted events
      are not played: commands come over the link) on a local socket (default 127.0.0.1, any
      free port) or a pseudo-terminal, its clock at X times real time, until Ctrl-C or SIGTERM
      (or, with --days, until N days of pump time have passed). Every command below then works
      against it. FILE is created if it does not exist, with its replay counters in
      FILE.counters (kept there from then on).
  pumpctl campaign SPEC.toml [--runs N] [--seed S] [--jobs J] [--out DIR]
      Fault-injection campaign: N scenarios drawn from SPEC (programmes, presses, refills,
      power cuts, cuts inside checkpoint writes, bit flips), run on J processes, every safety
      invariant checked after each; DIR/summary.json, and for a failed run the drawn and the
      shrunk scenario files (replay with `pumpctl sim FILE`). Exit 1 if any invariant broke.
  pumpctl dashboard [SCENARIO.toml [--speed X] [--play-events] | --port URL] [--keys FILE]
                    [--patient-only] [--listen HOST:PORT] [--public] [--open]
      A web page showing a pump live (the scenario's simulated pump at 1x to 10,000x, or a
      board): rates, reservoir, lockout, alarms and tones, the log; buttons for patient bolus,
      alarm acknowledge and refill, signed like the commands below. Loopback only unless
      --public. See docs/dashboard.md.

Talk to a pump (--port URL: /dev/ttyACM0, socket://127.0.0.1:PORT, loop:// (an echo, no pump);
default $PUMPCTL_PORT. --keys FILE, read only by commands that change the pump: default
$PUMPCTL_KEYS or ./pump-keys.json):
  pumpctl status [--json]          mode, rates, reservoir, alarms, lockout, next bolus, forecast
  pumpctl monitor [--period S]     live status (every S pump seconds) and new events
  pumpctl log [--from N] [--json]  the event log, from event N
  pumpctl bolus                    patient bolus (patient key, else clinician)
  pumpctl bolus --ug N --minutes M clinician bolus;  --priming [--minutes M];  --bridge
  pumpctl program FILE [--yes | --dry-run]
                                   stage, read back, show in force vs staged, commit
  pumpctl refill --added-ul N --aspirated-ul N [--expected-ul N]
  pumpctl alarms ack NAME... | silence | test
  pumpctl stop | resume | time-sync
  pumpctl keys new FILE [--device NAME]   a key file for a new pump
  pumpctl flash --board NAME --port URL [--keys FILE] [--dry-run]
                                   compile, copy, verify, reset, wait for hello

Exit status: 0 done; 1 the pump refused (reason printed; nothing changed), or you declined
the commit; 2 bad input (the message names the offending option or field); 3 the link failed
(no device, timeout, protocol mismatch); 130 interrupted (Ctrl-C).
"""
import argparse
import json
import os
import sys
import time

from pumpctl import campaign, commands, dashboard, flash, report, show
from pumpctl.client import BadValue, LinkError, NoKey, Refused
from pumpctl.keys import KeyFileError, load_keys
from pumpctl.errors import CommandError
from pumpwire import reasons
from pumpsim.files import load_scenario
from pumpsim.scenario import ScenarioError, clock

PROG = "pumpctl"


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
    lines.append(f"  {s['events']} logged events, {s['iterations']} clock jumps, "
                 f"{s['checkpoint_writes']} checkpoints written")
    if s["faults_injected"] or s["reboots"]:
        faults = ", ".join(f"{k} {v}" for k, v in sorted(s["faults_injected"].items()))
        back = ", ".join(f"{k} {v}" for k, v in sorted(s["reboots"].items()))
        lines.append(f"  faults       {faults or 'none'}; restarts: {back or 'none'}")
    for v in s["violations"]:
        lines.append(f"  VIOLATION    {v}")
    return "\n".join(lines)


def cmd_sim(args):
    if args.serve is not None:
        if args.report is not None:
            raise CommandError("--report: not with --serve (a served pump has no end to "
                               "report on)")
        return commands.serve(args)
    if args.report is not None and os.path.exists(args.report) and \
            not os.path.isdir(args.report):
        raise CommandError(f"--report: {args.report} exists and is not a folder")
    progress = None
    try:
        sc = load_scenario(args.scenario)
        days = sc.days
        if args.days is None and days is not None and \
                (isinstance(days, bool) or not isinstance(days, int) or days <= 0):
            raise ScenarioError("days: must be a positive whole number")
        days = args.days if args.days is not None else (days or 30)
        if days > report.PROGRESS_MIN_DAYS:
            progress = report.Progress(days * 86400)
        t0 = time.perf_counter()
        if args.report is not None:
            summary, rec = report.run(sc, days, progress)
        else:
            summary = sc.simulation(recorder=progress).run(days * 86400)
        elapsed = time.perf_counter() - t0
        if progress is not None:
            progress.close(days * 86400)
    except ScenarioError as e:
        raise CommandError(commands._about(args.scenario, e)) from None
    finally:
        if progress is not None:
            progress.close()
    if args.report is not None:
        try:
            path = report.write_report(args.report, args.scenario, summary, rec, elapsed)
        except OSError as e:
            raise CommandError(f"--report: {args.report}: {e.strerror or e}") from None
        print(f"{PROG}: report written to {path}", file=sys.stderr)
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True))
    else:
        print(format_summary(summary, args.scenario))
    return 1 if summary["violations"] else 0


def build_parser():
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.splitlines()[2:]))
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sim", help="run a scenario on the simulated board, or serve it")
    s.add_argument("scenario", help="scenario file (TOML)")
    s.add_argument("--days", type=commands.whole(1, unit=" of days"),
                   help="simulated days (default: the scenario's, or 30); with --serve: stop "
                   "after this many days of pump time (default: serve until Ctrl-C)")
    s.add_argument("--json", action="store_true", help="print the summary as JSON")
    s.add_argument("--report", metavar="OUTDIR",
                   help="also write an HTML report with plots to OUTDIR/index.html (not with "
                   "--serve)")
    s.add_argument("--serve", nargs="?", const="127.0.0.1:0", metavar="HOST:PORT|pty",
                   help="serve the simulated pump on a socket (default 127.0.0.1, any free "
                   "port) or a pseudo-terminal")
    s.add_argument("--speed", type=commands.positive(" of pump seconds per second"),
                   default=1.0,
                   help="with --serve: pump seconds per real second (default 1)")
    s.add_argument("--keys", help="with --serve: key file (created if missing; default "
                   "$PUMPCTL_KEYS or ./pump-keys.json)")
    s.add_argument("--device", help="with --serve: device name for a new key file (1-16 "
                   "bytes)")
    s.set_defaults(func=cmd_sim)
    campaign.add_parser(sub, commands.whole)
    dashboard.add_parser(sub, commands.positive)
    commands.add_parsers(sub)
    f = sub.add_parser("flash", help="put the firmware on a board and check it answers",
                       description=flash.__doc__.split("\n\n")[0])
    f.add_argument("--board", required=True, help="board NAME (boards/NAME.toml) or file")
    f.add_argument("--port", default=os.environ.get("PUMPCTL_PORT"),
                   help="the board: /dev/ttyACM0, socket://127.0.0.1:PORT (virtual board)")
    f.add_argument("--keys", help="key file to provision (default $PUMPCTL_KEYS or "
                   "./pump-keys.json)")
    f.add_argument("--dry-run", action="store_true", help="list what would be written")
    f.add_argument("--wait", type=float, default=15, help="seconds to wait for hello")
    f.set_defaults(func=lambda a: flash.cmd_flash(a, commands._keys_path(a), load_keys))
    return p


def main(argv=None):
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:          # --help, or a bad option (argparse said why): 2
        return e.code
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Refused as e:
        if e.reason == reasons.N_REPLAY:
            print(f"{PROG}: {e}: if the link delivered this command twice, it may have acted; "
                  "check `pumpctl log` before sending it again", file=sys.stderr)
        else:
            hint = e.hint or show.refusal_hint(e.msg_name, e.reason, e.detail)
            print(f"{PROG}: {e}" + (f" — {hint}" if hint else "") + "; nothing changed",
                  file=sys.stderr)
        return 1
    except (CommandError, KeyFileError, NoKey, BadValue) as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 3 if getattr(e, "device", False) else 2
    except LinkError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 3
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
