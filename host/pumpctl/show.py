"""Words for people: status, log records and the side-by-side programme review."""
import datetime
import json
import re

from pump.names import ALARM_NAMES, BOLUS_NAMES, EVENT_NAMES, PRIORITY_NAMES, REASON_NAMES
from pump.codes import ALARM_PRIORITY, MODE_NAMES
from pumpsim.scenario import clock
from pumpwire.messages import (ST_DELIVERING, ST_PROGRAMMED, ST_SILENCED, ST_STAGED,
                               ST_STOPPED)

TONES = ("off", "warning", "critical")


def alarm_name(code):
    return ALARM_NAMES[code] if 0 < code < len(ALARM_NAMES) else f"alarm {code}"


def alarm_label(code):
    """'low_reservoir (warning)'."""
    if code < len(ALARM_PRIORITY):
        return f"{alarm_name(code)} ({PRIORITY_NAMES[ALARM_PRIORITY[code]]})"
    return alarm_name(code)


def alarm_codes(bits):
    return [c for c in range(16) if bits >> c & 1]


def duration(s):
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}h {m:02d}m" if h else f"{m}m {sec:02d}s"


def wall(t_s, wall_base_s):
    if not wall_base_s:
        return ""
    w = datetime.datetime.fromtimestamp(wall_base_s + t_s, datetime.timezone.utc)
    return w.strftime("%Y-%m-%d %H:%M:%S UTC")


def status_words(st):
    """The status fields with codes turned into words (for --json and the text view)."""
    flags = st["flags"]
    return {
        "time": clock(st["time_s"]),
        "wall": wall(st["time_s"], st["wall_base_s"]),
        "mode": (MODE_NAMES[st["mode"]] if st["mode"] < len(MODE_NAMES) else
                 f"mode {st['mode']}") if flags & ST_PROGRAMMED else "not programmed",
        "delivering": bool(flags & ST_DELIVERING),
        "stopped_by_command": bool(flags & ST_STOPPED),
        "staged_programme": bool(flags & ST_STAGED),
        "silenced": bool(flags & ST_SILENCED),
        "alarms": [alarm_name(c) for c in alarm_codes(st["alarm_bits"])],
        "unacknowledged": [alarm_name(c) for c in alarm_codes(st["unacked_bits"])],
        "tone": TONES[st["tone"]] if st["tone"] < len(TONES) else str(st["tone"]),
        "basal_ug_per_day": st["basal_ug_per_day"],
        "rate_ul_per_h": st["rate_nl_per_h"] / 1000,
        "reservoir_ml": st["reservoir_nl"] / 1e6,
        "lockout_s": st["lockout_s"],
        "next_bolus": None if st["next_bolus_s"] < 0 else clock(st["next_bolus_s"]),
        "refill_by": None if st["forecast_s"] < 0 else clock(st["forecast_s"]),
        "steps": st["steps"],
        "events": st["log_seq"],
        "boluses_running": st["boluses"],
    }


def format_status(st, info=None):
    w = status_words(st)
    lines = []
    if info:
        fw = info["firmware"]
        lines.append(f"pump {info['device']} on board {info['board']} (firmware "
                     f"{fw >> 16}.{fw >> 8 & 255}.{fw & 255}, protocol {info['protocol']})")
    state = "delivering" if w["delivering"] else "NOT delivering"
    if w["stopped_by_command"]:
        state += " (stopped)"
    lines += [
        f"  clock        {w['time']}" + (f"  ({w['wall']})" if w["wall"] else ""),
        f"  mode         {w['mode']}, {state}",
        f"  basal        {w['basal_ug_per_day']} ug/day; motor now {w['rate_ul_per_h']:.1f} uL/h"
        + (f", {w['boluses_running']} bolus running" if w["boluses_running"] else ""),
        f"  reservoir    {w['reservoir_ml']:.3f} mL"
        + (f", refill by {w['refill_by']}" if w["refill_by"] else ""),
    ]
    if w["alarms"]:
        named = [alarm_label(c) + ("" if st["unacked_bits"] >> c & 1 else ", acknowledged")
                 for c in alarm_codes(st["alarm_bits"])]
        lines.append(f"  alarms       {'; '.join(named)}; tone {w['tone']}"
                     + (" (silenced)" if w["silenced"] else ""))
    else:
        lines.append("  alarms       none")
    if w["lockout_s"]:
        lines.append(f"  lockout      {duration(w['lockout_s'])} left")
    if w["next_bolus"]:
        lines.append(f"  next bolus   {w['next_bolus']} (periodic)")
    if w["staged_programme"]:
        lines.append("  staged       a programme is staged, not yet committed")
    lines.append(f"  events       {w['events']} logged, {w['steps']} steps issued")
    return "\n".join(lines)


def monitor_line(st):
    w = status_words(st)
    alarms = ",".join(w["alarms"]) or "-"
    return (f"{w['time']}  {w['mode']:<10} {'run ' if w['delivering'] else 'STOP'} "
            f"basal {w['basal_ug_per_day']:>4} ug/d  rate {w['rate_ul_per_h']:7.1f} uL/h  "
            f"res {w['reservoir_ml']:7.3f} mL  lockout {w['lockout_s']:>5}s  alarms {alarms}")


def event_words(rec):
    """One log record as (name, details)."""
    code, a, b = rec["code"], rec["a"], rec["b"]
    name = EVENT_NAMES[code] if code < len(EVENT_NAMES) else f"event {code}"

    def bolus(k):
        return BOLUS_NAMES[k] if 0 <= k < len(BOLUS_NAMES) else str(k)
    if name == "programme":
        detail = f"mode {MODE_NAMES[a] if a < len(MODE_NAMES) else a}, {b} ug/day"
    elif name in ("bolus_start", "bolus_end"):
        detail = f"{bolus(a)} {b} ug"
    elif name == "bolus_refused":
        detail = f"{bolus(a)}: {REASON_NAMES[b] if 0 <= b < len(REASON_NAMES) else b}"
    elif name == "bolus_aborted":
        detail = f"{bolus(a)} after {b} s"
    elif name == "alarm":
        detail = f"{alarm_name(a)} ({PRIORITY_NAMES[b] if 0 <= b < len(PRIORITY_NAMES) else b})"
    elif name in ("alarm_ack", "alarm_clear"):
        detail = alarm_name(a)
    elif name == "alarm_silence":
        detail = f"{alarm_name(a)} until {clock(b)}"
    elif name == "refill":
        detail = f"added {a / 1000:g} uL, discrepancy {b / 1000:+g} uL"
    elif name == "refill_rejected":
        detail = f"added {a / 1000:g} uL, aspirated {b / 1000:g} uL out of range"
    elif name == "time_sync":
        detail = f"wall clock base {a} (changed by {b:+d} s)"
    else:
        detail = "" if not (a or b) else f"{a} {b}"
    return name, detail


def format_record(rec):
    name, detail = event_words(rec)
    return f"{rec['seq']:>6}  {clock(rec['time_s'])}  {name:<18} {detail}".rstrip()


# ---- programme review ----

def _hhmm(minute):
    return f"{minute // 60:02d}:{minute % 60:02d}"


def flatten(programme, prefix=""):
    """A programme as (field, value) lines in reading order; flex days one line per step."""
    out = []
    for k, v in programme.items():
        key = prefix + k
        if isinstance(v, dict):
            out += flatten(v, key + ".")
        elif k == "days" and prefix == "flex." and isinstance(v, list):
            for d, day in enumerate(v):
                for step in day if isinstance(day, list) else []:
                    if isinstance(step, list) and len(step) == 2:
                        out.append((f"flex day {d + 1} from {_hhmm(step[0])}",
                                    f"{step[1]} ug/day"))
        elif isinstance(v, list) and all(isinstance(x, dict) for x in v):
            for i, item in enumerate(v):
                out += flatten(item, f"{key}[{i}].")
        else:
            out.append((key, json.dumps(v)))
    return out


def _group(field):
    return re.split(r"[.\[ ]", field, maxsplit=1)[0]


def side_by_side(current, pending):
    """The review table: every field of either programme, in force vs staged, changes marked.
    Returns (text, number of fields that differ)."""
    cur = dict(flatten(current)) if current else {}
    new = dict(flatten(pending))
    order = list(cur) + [k for k in new if k not in cur]
    # keep each top-level field's lines together; flex steps in day and time order
    groups = []
    for k in order:
        if _group(k) not in groups:
            groups.append(_group(k))
    order.sort(key=lambda k: (groups.index(_group(k)), k if _group(k) == "flex" else ""))
    rows = [("field", "in force", "staged")]
    changed = 0
    marks = [" "]
    for k in order:
        a, b = cur.get(k, "—"), new.get(k, "—")
        rows.append((k, a, b))
        marks.append("*" if a != b else " ")
        changed += a != b
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    lines = [f"{m} {r[0]:<{w0}}  {r[1]:<{w1}}  {r[2]}" for m, r in zip(marks, rows)]
    lines.insert(1, "  " + "-" * (w0 + w1 + 4 + max(len(r[2]) for r in rows)))
    return "\n".join(lines), changed
