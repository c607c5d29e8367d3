"""Words for people: status, log records and the side-by-side programme review."""
import datetime
import json
import re

from pump.names import ALARM_NAMES, BOLUS_NAMES, EVENT_NAMES, PRIORITY_NAMES, REASON_NAMES
from pump import limits
from pump.codes import (ALARM_PRIORITY, MODE_BOLUS, MODE_NAMES, MODE_STOPPED, P_CRITICAL,
                        R_AMOUNT, R_COUNT_24H, R_CRITICAL_ALARM, R_CONCENTRATION, R_DURATION,
                        R_LOCKOUT, R_NOT_PROGRAMMED, R_RATE, R_RESERVOIR, R_STOPPED,
                        R_TOO_MANY, R_UG_24H, R_UG_PER_HOUR, R_VOLUME)
from pumpsim.scenario import clock
from pumpwire import reasons
from pumpwire.messages import (ST_DELIVERING, ST_PROGRAMMED, ST_SILENCED, ST_STAGED,
                               ST_TIME_UNKNOWN,
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
    """'1h 50m 57s', '5m 03s', '42s'."""
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    if h:
        return f"{h}h {m:02d}m {sec:02d}s"
    return f"{m}m {sec:02d}s" if m else f"{sec}s"


def wall(t_s, wall_base_s):
    if not wall_base_s:
        return ""
    w = datetime.datetime.fromtimestamp(wall_base_s + t_s, datetime.timezone.utc)
    return w.strftime("%Y-%m-%d %H:%M:%S UTC")


def not_delivering_because(st):
    """Why a pump is not delivering, in words (empty while it delivers): the same checks, in
    the same order, as the core's refusals (no programme, critical alarm, stopped)."""
    flags = st["flags"]
    if flags & ST_DELIVERING:
        return []
    if not flags & ST_PROGRAMMED:
        return ["not programmed"]
    why = []
    if st["mode"] == MODE_STOPPED:
        why.append("the programme's mode is stopped")
    critical = [alarm_name(c) for c in alarm_codes(st["alarm_bits"])
                if c < len(ALARM_PRIORITY) and ALARM_PRIORITY[c] == P_CRITICAL]
    if critical:
        why.append("critical alarm " + ", ".join(critical))
    if flags & ST_STOPPED:
        why.append("stopped by command (pumpctl resume)")
    if not why and st["mode"] == MODE_BOLUS:
        why.append("its single bolus has run")
    return why


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
        "not_delivering_because": not_delivering_because(st),
        "staged_programme": bool(flags & ST_STAGED),
        "silenced": bool(flags & ST_SILENCED),
        "time_unknown": bool(flags & ST_TIME_UNKNOWN),
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
    if w["not_delivering_because"]:
        state += ": " + "; ".join(w["not_delivering_because"])
    lines += [
        f"  clock        {w['time']}" + (f"  ({w['wall']})" if w["wall"] else ""),
        f"  mode         {w['mode']}, {state}",
        f"  basal        {w['basal_ug_per_day']} ug/day"
        + (" (the lowest of the cycle: time of day unknown since a restart; pumpctl time-sync)"
           if w["time_unknown"] else "")
        + f"; motor now {w['rate_ul_per_h']:.1f} uL/h"
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
    lockout = duration(w["lockout_s"]) if w["lockout_s"] else "-"
    return (f"{w['time']}  {w['mode']:<10} {'run ' if w['delivering'] else 'STOP'} "
            f"basal {w['basal_ug_per_day']:>4} ug/d  rate {w['rate_ul_per_h']:7.1f} uL/h  "
            f"res {w['reservoir_ml']:7.3f} mL  lockout {lockout:>11}  alarms {alarms}")


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
        detail = f"wall clock base {a} " + \
            ("(first sync)" if a == b else f"(changed by {b:+d} s)")
    else:
        detail = "" if not (a or b) else f"{a} {b}"
    return name, detail


def format_record(rec):
    name, detail = event_words(rec)
    return f"{rec['seq']:>6}  {clock(rec['time_s'])}  {name:<18} {detail}".rstrip()


# ---- refusals ----

def refusal_hint(msg_name, reason, detail=0):
    """A few words on what a refusal reason means for this command, or "" (the reason word
    says it all). The numbers come from the hard limits the pump was built with."""
    if reason == R_AMOUNT:
        return f"a bolus is 1-{limits.MAX_BOLUS_UG} ug, or less if the board's limits say so"
    if reason == R_DURATION:
        if msg_name == "bridge":
            return (f"at the programmed rate the bridge would not last "
                    f"{limits.MIN_BOLUS_S // 60}-{limits.MAX_BOLUS_S // 60} minutes")
        return f"a bolus lasts {limits.MIN_BOLUS_S // 60}-{limits.MAX_BOLUS_S // 60} minutes"
    if reason == R_VOLUME:
        if msg_name == "priming":
            return "nothing to prime: the tubing and catheter_volume_ul are both 0"
        return "each volume must be from 0 to the reservoir's size"
    if reason == R_LOCKOUT:
        return "the lockout after the last patient bolus has not ended"
    if reason == R_TOO_MANY:
        return (f"a priming or bridge is already running (one at a time), or "
                f"{limits.MAX_ACTIVE_BOLUSES} boluses are")
    if reason == R_UG_24H:
        return "it would take the last 24 h's dose over the programme's max_ug_per_24h"
    if reason == R_COUNT_24H:
        return "patient_bolus.max_per_24h boluses were given in the last 24 h"
    if reason == R_UG_PER_HOUR:
        return "it would take the last hour's patient boluses over patient_bolus.max_ug_per_hour"
    if reason == R_RATE:
        if msg_name == "bridge":
            return "the basal rate in force is 0, so a bridge cannot be timed"
        return "the motor cannot run that fast on top of the programme"
    if reason == R_RESERVOIR:
        return "not enough drug left above the empty threshold"
    if reason == R_STOPPED:
        return "delivery was stopped by command (pumpctl resume), or the single bolus has run"
    if reason == R_NOT_PROGRAMMED:
        if msg_name == "patient_bolus":
            return "no programme with a patient_bolus is in force"
        return "no programme is in force"
    if reason == R_CRITICAL_ALARM:
        return "a critical alarm stops delivery (pumpctl status)"
    if reason == R_CONCENTRATION:
        return "a bridge follows a programme that changed the concentration; none is pending"
    if reason == reasons.N_BAD_TAG:
        return "the key file's keys are not this pump's (or the frame was corrupted)"
    if reason == reasons.N_NO_KEY:
        return "the pump holds no key for this role"
    if reason == reasons.N_ROLE:
        return "this role's key may not send it (the patient key sends patient boluses only)"
    if reason == reasons.N_TOO_LARGE:
        return f"the pump holds at most {detail} bytes of programme text"
    if reason == reasons.N_NOT_STAGED:
        return "nothing checked is staged (another host committed or discarded it?)"
    if reason == reasons.N_CRC:
        return "the staged programme is not the one reviewed (another host staged one)"
    if reason == reasons.N_STORAGE:
        return "the pump could not store its replay counter"
    if reason == reasons.N_BAD_VALUE:
        return "a value is out of the range the pump accepts"
    return ""


# ---- programme review ----

# Fields a programme may leave out, and the value that then applies (pump.programme._parse).
DEFAULTS = {
    "low_reservoir_ul": limits.DEFAULT_LOW_NL // 1000,
    "empty_reservoir_ul": limits.DEFAULT_EMPTY_NL // 1000,
    "catheter_volume_ul": 0,
    "refill_tolerance_ul": limits.DEFAULT_REFILL_TOLERANCE_NL // 1000,
}
PERIODIC_DEFAULTS = {"every_min": limits.DAY_S // 60, "first_min": 0}
# The review's order: top-level fields, then the fields inside a table.
_ORDER = ("mode", "concentration_ug_per_ml", "max_ug_per_24h", "rate_ug_per_day",
          "low_reservoir_ul", "empty_reservoir_ul", "catheter_volume_ul",
          "refill_tolerance_ul", "flex", "single_bolus", "periodic_boluses", "patient_bolus")
_SUB_ORDER = ("cycle_days", "amount_ug", "duration_min", "every_min", "first_min",
              "lockout_min", "max_per_24h", "max_ug_per_hour")


def _hhmm(minute):
    return f"{minute // 60:02d}:{minute % 60:02d}"


def flatten(programme, prefix=""):
    """A programme as (field, value, note) lines: every field it holds, and each field it
    leaves out that has a default, with that value and the note "default". flex.days is left
    out: basal_rows shows it."""
    out = []
    for k, v in programme.items():
        key = prefix + k
        if isinstance(v, dict):
            out += flatten(v, key + ".")
        elif k == "days" and prefix == "flex." and _days(v) is not None:
            continue
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for i, item in enumerate(v):
                out += flatten(item, f"{key}[{i}].")
                if k == "periodic_boluses" and not prefix:
                    out += [(f"{key}[{i}].{d}", json.dumps(value), "default")
                            for d, value in PERIODIC_DEFAULTS.items() if d not in item]
        else:
            out.append((key, json.dumps(v), ""))
    if not prefix and "mode" in programme:
        out += [(k, json.dumps(v), "default") for k, v in DEFAULTS.items() if k not in programme]
    return out


def _days(days):
    """flex.days as [[(start_min, ug_per_day), ...] per day], or None if not of that shape."""
    if not isinstance(days, list) or not days:
        return None
    out = []
    for day in days:
        if not isinstance(day, list) or not day:
            return None
        steps = []
        for step in day:
            if not (isinstance(step, list) and len(step) == 2 and
                    all(isinstance(x, int) for x in step)):
                return None
            steps.append(tuple(step))
        out.append(sorted(steps))
    return out


def basal_schedule(programme):
    """The basal rate a programme sets, as flex days [[(start_min, ug_per_day), ...], ...]:
    a continuous rate is one day of one step, modes without basal one day at 0. None if the
    programme's mode or schedule cannot be read."""
    if not isinstance(programme, dict):
        return None
    mode = programme.get("mode")
    if mode == "flex":
        flex = programme.get("flex")
        return _days(flex.get("days")) if isinstance(flex, dict) else None
    if mode == "continuous":
        rate = programme.get("rate_ug_per_day")
        return [[(0, rate)]] if isinstance(rate, int) else None
    if mode in ("stopped", "bolus"):
        return [[(0, 0)]]
    return None


def _rate_at(day, minute):
    rate = day[0][1]
    for start, r in day:
        if start <= minute:
            rate = r
    return rate


def basal_rows(current, pending):
    """For each cycle day, the basal rate each programme sets from each minute where either
    changes it: rows (field, (in force, note), (staged, note)). A programme with a shorter
    cycle repeats it; its row then says which of its days it is ("its day 1")."""
    days = [basal_schedule(p) for p in (current, pending)]
    n = max(len(d) for d in days if d is not None)
    rows = []
    for d in range(n):
        starts = sorted({start for sched in days if sched is not None
                         for start, _ in sched[d % len(sched)]})
        for minute in starts:
            cells = []
            for sched in days:
                if sched is None:
                    cells.append(("—", ""))
                    continue
                cells.append((f"{_rate_at(sched[d % len(sched)], minute)} ug/day",
                              f"its day {d % len(sched) + 1}" if d >= len(sched) else ""))
            rows.append((f"flex day {d + 1} from {_hhmm(minute)}", cells[0], cells[1]))
    return rows


def _order_key(field, seen):
    m = re.fullmatch(r"flex day (\d+) from (\d+):(\d+)", field)
    if m:
        return (_ORDER.index("flex"), 0, len(_SUB_ORDER), int(m[1]), int(m[2]) * 60 + int(m[3]))
    m = re.fullmatch(r"([^.\[ ]+)(?:\[(\d+)\])?(?:\.(.*))?", field)
    top, index, sub = (m[1], m[2], m[3]) if m else (field, None, None)
    rank = _ORDER.index(top) if top in _ORDER else len(_ORDER)
    sub_rank = _SUB_ORDER.index(sub) if sub in _SUB_ORDER else len(_SUB_ORDER) + seen[field]
    return (rank, seen[top] if rank == len(_ORDER) else 0, int(index or 0), sub_rank, 0)


def side_by_side(current, pending):
    """The review table: every field of either programme, in force vs staged, changes marked;
    a field left out shows the value that applies, marked "(default)"; flex basal as the rate
    in force from each minute where either programme changes it. Returns (text, number of
    lines that differ)."""
    cur = {k: (v, note) for k, v, note in flatten(current)} if current else {}
    new = {k: (v, note) for k, v, note in flatten(pending)}
    none = ("—", "")
    table = {k: (cur.get(k, none), new.get(k, none)) for k in list(cur) + list(new)}
    notes = []
    if any(isinstance(p, dict) and p.get("mode") == "flex" for p in (current, pending)) and \
            all(basal_schedule(p) is not None for p in (current, pending) if p):
        for k, a, b in basal_rows(current, pending):
            table[k] = (a, b)
        cycles = [len(basal_schedule(p)) for p in (current, pending) if p]
        if len(set(cycles)) > 1:
            notes.append(f"The cycles differ ({cycles[0]} and {cycles[1]} days): the shorter "
                         "repeats, and its rows say which of its own days they are.")
    seen = {}
    for k in list(table) + [re.split(r"[.\[ ]", k, maxsplit=1)[0] for k in table]:
        seen.setdefault(k, len(seen))
    order = sorted(table, key=lambda k: _order_key(k, seen))
    rows = [("field", "in force", "staged")]
    marks = [" "]
    changed = 0
    for k in order:
        (a, a_note), (b, b_note) = table[k]
        rows.append((k, a + (f" ({a_note})" if a_note else ""),
                     b + (f" ({b_note})" if b_note else "")))
        marks.append("*" if a != b else " ")
        changed += a != b
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    lines = [f"{m} {r[0]:<{w0}}  {r[1]:<{w1}}  {r[2]}".rstrip() for m, r in zip(marks, rows)]
    lines.insert(1, "  " + "-" * (w0 + w1 + 4 + max(len(r[2]) for r in rows)))
    return "\n".join(lines + notes), changed
