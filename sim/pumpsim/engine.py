# The event-driven simulator: a virtual clock that jumps straight to the next instant anything is
# due (the core's next_due_s or a scripted event), a virtual motor and a true reservoir. It runs
# the unchanged dosing core and gathers the run's figures from the core's event log. Runs under
# CPython and the MicroPython unix port.
from pump import codes
from pump.core import Pump
from pump.forecast import forecast_low_s
from pumpsim.motor import VirtualMotor, VirtualReservoir
from pumpsim.scenario import ScenarioError, Script, clock


class Simulation:
    def __init__(self, board, programme, events=(), initial_fill_nl=None, log_size=256):
        self.board = board
        self.programme = programme
        self.events = list(events)
        fill = board.reservoir_nl if initial_fill_nl is None else initial_fill_nl
        self.pump = Pump(board, 0, log_size)
        self.motor = VirtualMotor()
        self.reservoir = VirtualReservoir(fill)
        self._seq = 0
        self.given = {}     # bolus kind -> count started
        self.refused = {}   # reason -> count
        self.alarms = {}    # alarm code -> (first time, times raised)
        self.err_n = 0      # worst |programmed - issued| so far, as err_n / err_d steps
        self.err_d = 1
        self.iterations = 0
        self.pump.refill(0, 0, 0, fill)
        err = self.pump.program(0, programme)
        if err is not None:
            raise ScenarioError("programme." + err[0] + ": " + err[1])
        self.motor.load(self.pump.plan)
        self._drain()

    def run(self, end_s, fixed_tick_s=0, summary=True):
        """Simulate to end_s; returns the summary dict (None if not `summary`: a small heap
        reads the raw counters instead). fixed_tick_s > 0 steps the clock by that much instead
        of jumping (the naive loop, kept for the benchmark's comparison)."""
        self.start(end_s)
        if fixed_tick_s:
            while self.pump.now_s < end_s:
                self.advance_to(min(self.pump.now_s + fixed_tick_s, end_s))
        else:
            self.advance_to(end_s)
        return self.summary() if summary else None

    def start(self, end_s=None):
        """Lay out the scripted events up to end_s (None: no end, for a served pump)."""
        self._script = Script(self.events, end_s)

    def next_due_s(self):
        """The next instant the core or the script has something to do, or None."""
        t = self.pump.next_due_s
        nxt = self._script.peek()
        if nxt is not None and (t is None or nxt[0] < t):
            t = nxt[0]
        return t

    def advance_to(self, end_s):
        """Run the clock to end_s, stopping at every instant something is due on the way."""
        script = self._script
        while True:
            t = self.next_due_s()
            if t is None or t > end_s:
                t = end_s
            self._step_to(t)
            nxt = script.peek()
            while nxt is not None and nxt[0] == t:
                self._apply(script.pop())
                self.motor.load(self.pump.plan)
                nxt = script.peek()
            self._drain()
            if t >= end_s:
                return

    def commanded(self):
        """A command reached the core from outside the script (the link): follow its plan."""
        self.motor.load(self.pump.plan)
        self._drain()

    def _step_to(self, t):
        steps = self.motor.advance_to(t)
        self.reservoir.draw(steps, self.board.nl_per_step)
        self.pump.advance(t, steps)
        self.motor.load(self.pump.plan)
        self.iterations += 1
        i = self.pump.integral
        gap = abs((i.whole - self.motor.total_steps) * i.den + i.num)
        if gap * self.err_d > self.err_n * i.den:
            self.err_n, self.err_d = gap, i.den

    def _apply(self, ev):
        pump = self.pump
        now = pump.now_s
        a = ev["action"]
        if a == "press":
            pump.request_patient_bolus(now)
        elif a == "bolus":
            pump.request_bolus(now, ev["amount_ug"], ev["duration_min"] * 60)
        elif a == "priming":
            dur = ev.get("duration_min")
            pump.request_priming(now, None if dur is None else dur * 60)
        elif a == "bridge":
            pump.request_bridge(now)
        elif a == "refill":
            truth = max(0, self.reservoir.volume_nl)
            aspirated = ev["aspirated_ul"] * 1000 if "aspirated_ul" in ev else truth
            expected = ev["expected_ul"] * 1000 if "expected_ul" in ev else pump.reservoir_nl
            added = ev["added_ul"] * 1000
            if pump.refill(now, expected, aspirated, added) == codes.OK:
                self.reservoir.volume_nl = added
        elif a == "ack":
            which = None
            if "alarm" in ev:
                from pump.names import ALARM_NAMES
                if ev["alarm"] not in ALARM_NAMES[1:]:
                    raise ScenarioError("ack: no alarm called '" + str(ev["alarm"]) + "'")
                which = ALARM_NAMES.index(ev["alarm"])
            for code in sorted(pump.alarms.table):
                if which is None or code == which:
                    pump.acknowledge(now, code)
        elif a == "silence":
            pump.silence(now)
        elif a == "alarm_test":
            pump.alarm_test(now)
        elif a == "stop":
            pump.stop(now)
        elif a == "resume":
            pump.resume(now)
        elif a == "program":
            err = pump.program(now, ev["programme"])
            if err is not None:
                raise ScenarioError("event program at " + clock(now) + ": " + err[0] + ": " +
                                    err[1])

    def _drain(self):
        for seq, t, code, a, b in self.pump.log.since(self._seq):
            if code == codes.E_BOLUS_START:
                self.given[a] = self.given.get(a, 0) + 1
            elif code == codes.E_BOLUS_REFUSED:
                self.refused[b] = self.refused.get(b, 0) + 1
            elif code == codes.E_ALARM:
                first, count = self.alarms.get(a, (t, 0))
                self.alarms[a] = (first, count + 1)
        self._seq = self.pump.log.seq

    def summary(self):
        """The run's figures, keyed by words (pump.names is loaded only here)."""
        from pump.names import ALARM_NAMES, BOLUS_NAMES, REASON_NAMES
        pump = self.pump
        n, d = pump.programmed_nl()
        nlps = self.board.nl_per_step
        forecast = forecast_low_s(pump)
        return {
            "days": pump.now_s / 86400,
            "board": self.board.name,
            "nl_per_step": nlps,
            "programmed_nl": n // d,
            "delivered_nl": self.motor.total_steps * nlps,
            "steps": self.motor.total_steps,
            "max_abs_error_steps": self.err_n / self.err_d,
            "boluses_given": sum(self.given.values()),
            "boluses_given_by_kind": dict((BOLUS_NAMES[k], v) for k, v in self.given.items()),
            "boluses_refused": dict((REASON_NAMES[k], v) for k, v in self.refused.items()),
            "alarms": [{"code": ALARM_NAMES[k], "first_s": v[0], "first": clock(v[0]),
                        "count": v[1]}
                       for k, v in sorted(self.alarms.items(), key=lambda kv: kv[1][0])],
            "active_alarms": [ALARM_NAMES[c] for c in pump.alarms.table],
            "reservoir_nl_end": pump.reservoir_nl,
            "reservoir_true_nl_end": self.reservoir.volume_nl,
            "delivering_at_end": pump.delivering(),
            "refill_forecast_s": forecast,
            "events": pump.log.seq,
            "iterations": self.iterations,
        }
