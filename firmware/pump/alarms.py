# Alarms: priority (critical stops delivery, warning does not), latching until acknowledged,
# silence with re-annunciation, a commanded test, and a tone pattern per priority for the
# buzzer. Time is passed in; the table holds at most one entry per alarm code, so it is bounded.
from pump import limits
from pump.codes import (ALARM_PRIORITY, P_CRITICAL, P_TEST, A_TEST, E_ALARM, E_ALARM_ACK,
                        E_ALARM_CLEAR, E_ALARM_SILENCE)

# Tone patterns after IEC 60601-1-8's burst shapes: (frequency Hz, on ms, off ms) pulses, then
# the burst repeats. Critical: ten fast pulses; warning: three slower, lower pulses. The test
# plays the critical burst, then the warning burst.
TONE_CRITICAL = ((880, 150, 100),) * 3 + ((880, 150, 400),) + ((880, 150, 100),) * 5 + \
    ((880, 150, 2500),)
TONE_WARNING = ((660, 200, 200), (660, 200, 200), (660, 200, 10000))
TONE_NONE = ()


class Alarm:
    def __init__(self, code, now):
        self.code = code
        self.priority = ALARM_PRIORITY[code]
        self.raised_s = now
        self.acked = False
        self.condition = True
        self.silenced_until = now
        self.ends_s = now + limits.ALARM_TEST_S if code == A_TEST else None


class Alarms:
    def __init__(self, log):
        self._log = log
        self.table = {}

    def raise_alarm(self, code, now):
        """Raise an alarm; True if it is new. A latched alarm whose cause had gone and has come
        back is logged again."""
        a = self.table.get(code)
        if a is not None:
            if not a.condition:
                a.condition = True
                self._log.add(now, E_ALARM, code, a.priority)
            return False
        a = Alarm(code, now)
        self.table[code] = a
        self._log.add(now, E_ALARM, code, a.priority)
        return True

    def condition_cleared(self, code, now):
        """The cause went away; an acknowledged alarm then clears, an unacknowledged one latches."""
        a = self.table.get(code)
        if a is not None:
            a.condition = False
            if a.acked:
                self._clear(a, now)

    def acknowledge(self, code, now):
        """True if there was such an alarm to acknowledge."""
        a = self.table.get(code)
        if a is None or a.acked:
            return False
        a.acked = True
        self._log.add(now, E_ALARM_ACK, code, 0)
        if not a.condition:
            self._clear(a, now)
        return True

    def silence(self, now):
        """Mute every sounding alarm for SILENCE_S; they sound again after it if still active."""
        until = now + limits.SILENCE_S
        for code in sorted(self.table):     # the same log order on every interpreter
            a = self.table[code]
            if not a.acked and a.priority != P_TEST:
                a.silenced_until = until
                self._log.add(now, E_ALARM_SILENCE, a.code, until)

    def test(self, now):
        """Commanded alarm test: sounds each priority's tone, then clears itself."""
        self.table.pop(A_TEST, None)
        self.raise_alarm(A_TEST, now)
        self.table[A_TEST].condition = False

    def tick(self, now):
        """Clear a finished alarm test."""
        a = self.table.get(A_TEST)
        if a is not None and now >= a.ends_s:
            self._clear(a, now)

    def stops_delivery(self):
        for a in self.table.values():
            if a.priority == P_CRITICAL:
                return True
        return False

    def next_due(self, now):
        """Next instant the annunciation changes by itself (silence ends, the test moves to its
        second tone or ends), or None."""
        best = None
        for a in self.table.values():
            half = None if a.ends_s is None else a.raised_s + limits.ALARM_TEST_S // 2
            for t in (a.silenced_until, half, a.ends_s):
                if t is not None and t > now and (best is None or t < best):
                    best = t
        return best

    def tone(self, now):
        """The tone pattern the buzzer should play now: the highest sounding priority; a test
        plays over a warning but never hides a sounding critical alarm."""
        top = -1
        test = None
        for a in self.table.values():
            if a.priority == P_TEST:
                first_half = now - a.raised_s < limits.ALARM_TEST_S // 2
                test = TONE_CRITICAL if first_half else TONE_WARNING
            elif not a.acked and a.silenced_until <= now and a.priority > top:
                top = a.priority
        if top == P_CRITICAL:
            return TONE_CRITICAL
        if test is not None:
            return test
        if top >= 0:
            return TONE_WARNING
        return TONE_NONE

    def _clear(self, a, now):
        del self.table[a.code]
        self._log.add(now, E_ALARM_CLEAR, a.code, 0)
