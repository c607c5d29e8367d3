"""pumpctl campaign SPEC.toml --runs N --seed S --jobs J [--out DIR]: fault-injection campaigns.

Draws N scenarios from the spec (pumpsim.campaign), runs each on the simulated board with its
faults on J local processes, checks every safety invariant after each run, and writes
DIR/summary.json. For every run that broke an invariant it also writes DIR/run-K.toml (the
drawn scenario) and DIR/run-K-min.toml (the smallest scenario found that still breaks it); both
replay with `pumpctl sim FILE`. A progress bar on stderr shows runs done, failures and the time
left. Exit status 0 when no invariant broke, 1 when one did, 2 for a bad spec.
"""
import json
import multiprocessing
import os
import time

from pumpctl.errors import CommandError
from pumpctl.progress import Progress
from pumpsim import campaign
from pumpsim.scenario import ScenarioError

_spec = None


def _init(path):
    global _spec
    _spec = campaign.Spec(path)


def _one(job):
    """Run `index` of the campaign (in a worker): (index, summary or error text, seconds)."""
    seed, index = job
    t0 = time.perf_counter()
    scenario = campaign.draw(_spec, seed, index)
    try:
        summary = campaign.run(_spec, scenario)
    except Exception as e:  # a crash is a finding, reported like a violation
        summary = {"violations": [f"crash: {type(e).__name__}: {e}"], "faults_injected": {},
                   "reboots": {}, "checkpoint_writes": 0, "days": scenario["days"]}
    return index, summary, time.perf_counter() - t0


def cmd_campaign(args):
    try:
        spec = campaign.Spec(args.spec)
        campaign.draw(spec, args.seed, 0)          # a bad range fails here, not in a worker
    except ScenarioError as e:
        raise CommandError(str(e)) from None
    os.makedirs(args.out, exist_ok=True)
    jobs = [(args.seed, i) for i in range(args.runs)]
    progress = Progress(args.runs, "campaign", lambda n: f"{n}/{args.runs} runs", lines=10)
    totals = {"runs": 0, "failed": 0, "faults_injected": {}, "reboots": {},
              "checkpoint_writes": 0, "simulated_days": 0, "cpu_seconds": 0.0}
    failures = []
    t0 = time.monotonic()
    if args.jobs == 1:
        _init(args.spec)
        results = map(_one, jobs)
        pool = None
    else:
        pool = multiprocessing.get_context("spawn").Pool(args.jobs, _init, (args.spec,))
        results = pool.imap_unordered(_one, jobs, chunksize=max(1, min(50, args.runs //
                                                                          (args.jobs * 8))))
    try:
        for index, summary, secs in results:
            totals["runs"] += 1
            totals["cpu_seconds"] += secs
            totals["checkpoint_writes"] += summary["checkpoint_writes"]
            totals["simulated_days"] += summary["days"]
            for key in ("faults_injected", "reboots"):
                for k, v in summary[key].items():
                    totals[key][k] = totals[key].get(k, 0) + v
            if summary["violations"]:
                totals["failed"] += 1
                failures.append((index, summary["violations"]))
            progress.update(totals["runs"], f", {totals['failed']} failed")
    finally:
        if pool is not None:
            pool.terminate()
    progress.close(totals["runs"], f", {totals['failed']} failed")
    totals["wall_seconds"] = round(time.monotonic() - t0, 3)
    totals["cpu_seconds"] = round(totals["cpu_seconds"], 3)
    totals["simulated_days"] = round(totals["simulated_days"], 3)
    totals["faults_total"] = sum(totals["faults_injected"].values())
    report = []
    for index, violations in sorted(failures)[:args.keep]:
        report.append(_write_repro(spec, args, index, violations))
    summary = {"spec": args.spec, "seed": args.seed, "jobs": args.jobs, **totals,
               "violations": report}
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2, sort_keys=True)
    _print(summary, args.out)
    return 1 if failures else 0


def _write_repro(spec, args, index, violations):
    scenario = campaign.draw(spec, args.seed, index)
    full = os.path.join(args.out, f"run-{index}.toml")
    with open(full, "w") as f:
        f.write(campaign.to_toml(scenario, f"pumpctl campaign {args.spec} --seed {args.seed}: "
                                 f"run {index}, as drawn\n{violations[0]}"))
    small = campaign.shrink(spec, scenario)
    mini = os.path.join(args.out, f"run-{index}-min.toml")
    with open(mini, "w") as f:
        f.write(campaign.to_toml(small, f"run {index}, shrunk to what still breaks an "
                                 f"invariant: replay with `pumpctl sim {mini}`\n{violations[0]}"))
    return {"run": index, "violations": violations, "scenario": full, "minimal": mini,
            "minimal_faults": len(small["faults"]), "minimal_events": len(small["events"]),
            "minimal_days": small["days"]}


def _print(s, out):
    faults = ", ".join(f"{k} {v}" for k, v in sorted(s["faults_injected"].items()))
    back = ", ".join(f"{k} {v}" for k, v in sorted(s["reboots"].items()))
    print(f"campaign {s['spec']} (seed {s['seed']}): {s['runs']} runs, "
          f"{s['simulated_days']:g} simulated days, {s['wall_seconds']:.1f} s on {s['jobs']} "
          f"process(es)")
    print(f"  faults injected  {s['faults_total']} ({faults or 'none'})")
    print(f"  restarts         {back or 'none'}")
    print(f"  checkpoints      {s['checkpoint_writes']} written")
    print(f"  violations       {s['failed']} run(s)")
    for v in s["violations"]:
        print(f"    run {v['run']}: {v['violations'][0]}")
        print(f"      minimal: {v['minimal']} ({v['minimal_faults']} faults, "
              f"{v['minimal_events']} events, {v['minimal_days']} days)")
    print(f"  summary          {os.path.join(out, 'summary.json')}")


def add_parser(sub, whole):
    c = sub.add_parser("campaign", help="run a fault-injection campaign on the simulator",
                       description=__doc__.split("\n\n")[0])
    c.add_argument("spec", help="campaign spec (TOML)")
    c.add_argument("--runs", type=whole(1, unit=" of runs"), default=100,
                   help="scenarios to draw and run (default 100)")
    c.add_argument("--seed", type=int, default=1, help="campaign seed (default 1)")
    c.add_argument("--jobs", type=whole(1, unit=" of processes"),
                   default=os.cpu_count() or 1, help="local processes (default: every CPU)")
    c.add_argument("--out", default="campaign-out", help="where to write the summary and "
                   "the scenarios of failed runs (default ./campaign-out)")
    c.add_argument("--keep", type=whole(1, unit=" of runs"), default=5,
                   help="failed runs to shrink and write out (default 5)")
    c.set_defaults(func=cmd_campaign)
