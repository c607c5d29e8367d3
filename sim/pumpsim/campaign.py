"""Fault campaigns: randomised scenarios drawn from a spec, each run on the simulated board with
its faults injected and every safety invariant checked (pumpsim.invariants), and, for a run
that breaks one, the smallest scenario that still does, written as a scenario file that
`pumpctl sim` replays. CPython only (the host runs campaigns; the code under test is the same
firmware the board runs).

A spec (TOML) names the board, the days, one or more programmes to draw from, and ranges:

    board = "virtual"            days = 30
    initial_fill_ul = [20000, 40000]
    [[programmes]] ...           (full programme tables, as in a scenario's [programme])
    [presses]   per_day = [0, 6]
    [refills]   every_days = [10, 20]   added_ul = [20000, 40000]
    [faults]    power_cut = [1, 6]   cut_in_write = [0, 2]   flip = [0, 2]
                off_s = [1, 7200]   rtc_kept = 0.5   torn_flash = 0.5
                occlusion = [0, 1]   stall = [0, 1]   line_hours = [1, 12]
                time_sync = 0.8   (chance a host sets the time after a cut that lost it)

A range [a, b] draws a whole number uniformly from a to b; a single number is fixed. Each run's
draws come from its own seed (the campaign seed and the run's number), so any run can be drawn
again alone.
"""
import random

from pumpsim.engine import Simulation
from pumpsim.faults import check_faults
from pumpsim.files import board_path, load_board, read_toml
from pumpsim.scenario import ScenarioError

DAY = 86400
_KNOWN = {"title", "description", "board", "days", "initial_fill_ul", "programmes", "presses",
          "refills", "faults"}


class Spec:
    def __init__(self, path):
        data = read_toml(path)
        for k in data:
            if k not in _KNOWN:
                raise ScenarioError(f"{path}: unknown top-level field '{k}'")
        progs = data.get("programmes")
        if not isinstance(progs, list) or not progs or not all(isinstance(p, dict)
                                                               for p in progs):
            raise ScenarioError(f"{path}: needs at least one [[programmes]] table")
        self.path = path
        self.data = data
        self.board_name = data.get("board", "virtual")
        self.board_file = board_path(self.board_name, path)
        self.board = load_board(self.board_file)
        self.programmes = progs
        for i, p in enumerate(progs):            # each must be a valid programme on the board
            try:
                Simulation(self.board, p, ())
            except ScenarioError as e:
                raise ScenarioError(f"{path}: programmes[{i}]: {e}") from None
        for table in ("presses", "refills", "faults"):
            if not isinstance(data.get(table, {}), dict):
                raise ScenarioError(f"{path}: [{table}] must be a table")

    def get(self, table, key, default):
        return (self.data.get(table, {}) if table else self.data).get(key, default)


def _draw(rng, v, where):
    if isinstance(v, bool) or not isinstance(v, (int, list)):
        raise ScenarioError(f"{where}: a whole number or a range [low, high]")
    if isinstance(v, int):
        return v
    if len(v) != 2 or not all(isinstance(x, int) for x in v) or v[0] > v[1]:
        raise ScenarioError(f"{where}: a range is [low, high], whole numbers, low <= high")
    return rng.randint(v[0], v[1])


def _chance(rng, v, where):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
        raise ScenarioError(f"{where}: a probability from 0 to 1")
    return rng.random() < v


def draw(spec, seed, index):
    """The scenario of run `index` of a campaign with `seed`: a dict in scenario-file form."""
    rng = random.Random(f"{seed}:{index}")
    days = _draw(rng, spec.get(None, "days", 30), "days")
    end = days * DAY
    prog = spec.programmes[rng.randrange(len(spec.programmes))]
    fill = _draw(rng, spec.get(None, "initial_fill_ul", spec.board.reservoir_nl // 1000),
                 "initial_fill_ul")
    events = []
    per_day = spec.get("presses", "per_day", 0)
    for d in range(days):
        for _ in range(_draw(rng, per_day, "presses.per_day")):
            events.append({"action": "press", "at": d * DAY + rng.randrange(DAY)})
    every = spec.get("refills", "every_days", 0)
    t = 0
    while every:
        t += _draw(rng, every, "refills.every_days") * DAY + rng.randrange(8 * 3600)
        if t >= end:
            break
        events.append({"action": "refill", "at": t,
                       "added_ul": _draw(rng, spec.get("refills", "added_ul", fill),
                                         "refills.added_ul")})
        events.append({"action": "ack", "at": t + 60})
    faults = []
    off = spec.get("faults", "off_s", [1, 3600])
    kept = spec.get("faults", "rtc_kept", 0.5)

    def cut(kind, at):
        f = {"kind": kind, "at": at, "off": _draw(rng, off, "faults.off_s"),
             "rtc": "kept" if _chance(rng, kept, "faults.rtc_kept") else "lost"}
        if kind == "cut_in_write":
            f["byte"] = rng.randrange(4096)
            f["when"] = rng.choice(("now", "next"))
        return f

    sync = spec.get("faults", "time_sync", 0.8)
    for kind in ("power_cut", "cut_in_write"):
        for _ in range(_draw(rng, spec.get("faults", kind, 0), "faults." + kind)):
            f = cut(kind, rng.randrange(1, end))
            faults.append(f)
            if f["rtc"] == "lost" and _chance(rng, sync, "faults.time_sync"):
                # someone notices the clock warning and a host tells the pump the time
                events.append({"action": "time_sync",
                               "at": f["at"] + f["off"] + rng.randrange(60, 6 * 3600)})
    for _ in range(_draw(rng, spec.get("faults", "flip", 0), "faults.flip")):
        at = rng.randrange(1, end)
        faults.append({"kind": "flip", "at": at, "slot": rng.choice(("newest", "older")),
                       "byte": rng.randrange(4096), "mask": rng.randrange(1, 256)})
        faults.append(cut("power_cut", at + rng.randrange(1, 3600)))   # read back at boot
    hours = spec.get("faults", "line_hours", [1, 12])
    for kind in ("occlusion", "stall"):
        for _ in range(_draw(rng, spec.get("faults", kind, 0), "faults." + kind)):
            at = rng.randrange(1, end)
            f = {"kind": kind, "at": at,
                 "until": at + _draw(rng, hours, "faults.line_hours") * 3600}
            if kind == "occlusion" and rng.random() < 0.5:      # a partial one
                f["passing_nl_per_h"] = rng.randrange(0, 200000)
            faults.append(f)
    faults.sort(key=lambda f: f["at"])
    events.sort(key=lambda e: e["at"])
    torn = _chance(rng, spec.get("faults", "torn_flash", 0), "faults.torn_flash")
    return {"title": f"campaign {seed} run {index}", "board": spec.board_name, "days": days,
            "initial_fill_ul": fill, "flash": "torn" if torn else "atomic",
            "programme": prog, "events": events, "faults": faults}


def run(spec, scenario):
    """Run one drawn scenario; returns its summary (violations, faults injected, reboots)."""
    sim = Simulation(spec.board, scenario["programme"], scenario["events"],
                     scenario["initial_fill_ul"] * 1000,
                     faults=check_faults(scenario["faults"]),
                     atomic_flash=scenario["flash"] == "atomic")
    return sim.run(scenario["days"] * DAY)


def shrink(spec, scenario, budget=300):
    """A smaller scenario that still breaks an invariant: fewer days, faults and events, by
    greedy removal (each candidate run once; at most `budget` runs)."""
    runs = [0]

    def violations(s):
        try:
            return run(spec, s)["violations"]
        except Exception as e:  # a crash is a finding too: keep shrinking on it
            return [f"crash: {type(e).__name__}: {e}"]

    def fails(s):
        if runs[0] >= budget:
            return False
        runs[0] += 1
        return bool(violations(s))

    best = dict(scenario)
    first = violations(best)
    if first and " at " in first[0]:            # end a day after the first violation
        t = int(first[0].split(" at ", 1)[1].split(" s", 1)[0])
        days = min(best["days"], t // DAY + 1)
        cand = _cut(best, days)
        if days < best["days"] and fails(cand):
            best = cand
    for key in ("faults", "events"):
        i = 0
        while i < len(best[key]):
            cand = dict(best)
            cand[key] = best[key][:i] + best[key][i + 1:]
            if fails(cand):
                best = cand
            else:
                i += 1
    return best


def _cut(s, days):
    end = days * DAY
    c = dict(s)
    c["days"] = days
    c["events"] = [e for e in s["events"] if e["at"] < end]
    c["faults"] = [f for f in s["faults"] if f["at"] < end]
    return c


def to_toml(scenario, note=""):
    """A scenario dict as a scenario file (`pumpctl sim` reads it back)."""
    lines = [f"# {line}" for line in note.splitlines()]
    _table(lines, scenario, [])
    return "\n".join(lines) + "\n"


def _value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def _table(lines, d, path):
    subs, arrays = [], []
    for k, v in d.items():
        if isinstance(v, dict):
            subs.append(k)
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            arrays.append(k)
        else:
            lines.append(f"{k} = {_value(v)}")
    for k in subs:
        lines.append("")
        lines.append("[" + ".".join(path + [k]) + "]")
        _table(lines, d[k], path + [k])
    for k in arrays:
        for item in d[k]:
            lines.append("")
            lines.append("[[" + ".".join(path + [k]) + "]]")
            _table(lines, item, path + [k])
