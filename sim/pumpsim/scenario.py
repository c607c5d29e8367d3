# Scenario input: time strings ("2d 08:30", "90m", "3h", "14d", plain seconds) and the scripted
# event list (patient presses, refills, alarm acks ...) expanded into a sorted timeline.
# Plain dicts in, so a scenario can come from TOML on CPython or JSON under MicroPython.

ACTIONS = ("press", "bolus", "priming", "bridge", "refill", "ack", "silence", "alarm_test",
           "stop", "resume", "program", "time_sync")
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


class Script:
    """The scripted events in time order, one occurrence at a time (ties: file order).

    `every` repeats an event until `until` (a time) or for `count` occurrences. Memory stays
    proportional to the number of entries, not occurrences, so a year of daily presses fits
    a small MicroPython heap.
    """

    def __init__(self, events, end_s=None):
        self.events = []
        self._next = []
        for i, ev in enumerate(events):
            where = "events[" + str(i) + "]"
            if not isinstance(ev, dict):
                raise ScenarioError(where + ": must be a table")
            if ev.get("action") not in ACTIONS:
                raise ScenarioError(where + ".action: must be one of " + ", ".join(ACTIONS))
            every = seconds(ev["every"], where + ".every") if "every" in ev else 0
            if "every" in ev and every <= 0:
                raise ScenarioError(where + ".every: must be positive")
            last = seconds(ev["until"], where + ".until") if "until" in ev else end_s
            if end_s is not None and last is not None:
                last = min(last, end_s)
            count = ev.get("count", -1)
            if isinstance(count, bool) or not isinstance(count, int) or count == 0 or \
                    count < -1:
                raise ScenarioError(where + ".count: must be a positive whole number")
            self.events.append((ev, every, last, count if every else 1))
            self._next.append(seconds(ev.get("at", 0), where + ".at"))

    def peek(self):
        """(time, index) of the next occurrence, or None when none is left."""
        best = None
        for i in range(len(self._next)):
            t = self._next[i]
            last = self.events[i][2]
            if t is not None and (last is None or t <= last) and (best is None or t < best[0]):
                best = (t, i)
        return best

    def pop(self):
        """The next occurrence's event dict; moves that entry on to its next repeat."""
        t, i = self.peek()
        ev, every, last, count = self.events[i]
        if count > 0:
            count -= 1
            self.events[i] = (ev, every, last, count)
        self._next[i] = t + every if every and count != 0 else None
        return ev
