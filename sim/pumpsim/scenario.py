# Scenario input: time strings ("2d 08:30", "90m", "3h", "14d", plain seconds) and the scripted
# event list (patient presses, refills, alarm acks ...) expanded into a sorted timeline.
# Plain dicts in, so a scenario can come from TOML on CPython or JSON under MicroPython.

ACTIONS = ("press", "bolus", "priming", "bridge", "refill", "ack", "silence", "alarm_test",
           "stop", "resume", "program")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class ScenarioError(Exception):
    pass


def seconds(v, where):
    """A time or duration: int seconds, or a string of parts like "2d 08:30", "90m", "1h30m"."""
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if not isinstance(v, str):
        raise ScenarioError(where + ": expected seconds or a string like '2d 08:30'")
    total = 0
    for part in v.split():
        try:
            if ":" in part:
                hms = [int(x) for x in part.split(":")]
                if len(hms) == 2:
                    hms.append(0)
                if len(hms) != 3:
                    raise ValueError()
                total += hms[0] * 3600 + hms[1] * 60 + hms[2]
            else:
                num = ""
                for ch in part:
                    if ch.isdigit():
                        num += ch
                    elif ch in _UNITS and num:
                        total += int(num) * _UNITS[ch]
                        num = ""
                    else:
                        raise ValueError()
                if num:
                    total += int(num)
        except ValueError:
            raise ScenarioError(where + ": cannot read time '" + v + "'")
    return total


def clock(t_s):
    """Seconds as 'Nd HH:MM:SS' (day 0 is the first simulated day)."""
    d, rest = divmod(t_s, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    return "%dd %02d:%02d:%02d" % (d, h, m, s)


def timeline(events, end_s):
    """[(t_s, index, event dict)] for every occurrence up to end_s, in time order; `every`
    repeats an event, until `until` (a time) or `count` occurrences."""
    out = []
    for i, ev in enumerate(events):
        where = "events[" + str(i) + "]"
        if not isinstance(ev, dict):
            raise ScenarioError(where + ": must be a table")
        action = ev.get("action")
        if action not in ACTIONS:
            raise ScenarioError(where + ".action: must be one of " + ", ".join(ACTIONS))
        t = seconds(ev.get("at", 0), where + ".at")
        every = seconds(ev["every"], where + ".every") if "every" in ev else 0
        if every < 0 or ("every" in ev and every == 0):
            raise ScenarioError(where + ".every: must be positive")
        last = seconds(ev["until"], where + ".until") if "until" in ev else end_s
        count = ev.get("count", -1)
        n = 0
        while t <= min(last, end_s) and n != count:
            out.append((t, i, ev))
            n += 1
            if not every:
                break
            t += every
    out.sort(key=lambda x: (x[0], x[1]))
    return out
