# The event-driven simulator: a virtual clock that jumps straight to the next instant anything is
# due (the core's next_due_s, a checkpoint, a scripted event or an injected fault), a virtual
# motor, a true reservoir and the board's flash. It runs the unchanged dosing core with its
# write-ahead checkpoints (pump.checkpoint), gathers the run's figures from the core's event
# log, and, given faults (pumpsim.faults), cuts the power and reboots the core from its flash
# exactly as a board would, while pumpsim.invariants checks the truth against what the pump
# believes. The simulator's clock is the true time; the pump's own clock lags it by `lag` after a
# reboot that lost the board's clock. Runs under CPython and the MicroPython unix port.
from pump import codes
from pump.checkpoint import Checkpointer, recover
from pump.forecast import forecast_low_s
from pump.snapshot import time_sync
from pump.core import Plan, Pump
from pumphw.stall import StallDetector
from pumphw.store import FileStore
from pumpsim.faults import PowerCut, SimFlash
from pumpsim.line import VirtualLine
from pumpsim.invariants import Invariants
from pumpsim.motor import VirtualMotor, VirtualReservoir
from pumpsim.scenario import ScenarioError, Script, clock


WALL_EPOCH_S = 1_800_000_000   # the wall-clock time (Unix s) of the simulation's second 0


class Simulation:
    def __init__(self, board, programme, events=(), initial_fill_nl=None, log_size=256,
                 faults=(), atomic_flash=True, checked=None, stall_steps=320, recorder=None):
        self.board = board
        # called as recorder(true t, pump, motor steps, true reservoir nL) each time the motor
        # takes a plan (after every step and every command): reports and progress, host-side;
        # and recorder.cut(true t, off s), if it has one, when the power is cut
        self.recorder = recorder
        self.programme = programme
        self.events = list(events)
        self.log_size = log_size
        fill = board.reservoir_nl if initial_fill_nl is None else initial_fill_nl
        self.flash = SimFlash(atomic_flash)
        self.store = FileStore(self.flash)
        self.ckpt = Checkpointer(self.store)
        self.pump = Pump(board, 0, log_size)
        self.motor = VirtualMotor()
        self.reservoir = VirtualReservoir(fill)
        self.t = 0          # true time; the pump's clock reads t - lag
        self.lag = 0
        self.faults = list(faults)
        # the line downstream of the head and the board layer's stall evidence, modelled
        # when a scenario occludes or stalls it (pumpsim.line, pumphw.stall)
        self.line = None
        self.stall = None
        self.stalled = False        # the rotor cannot turn at all
        for f in self.faults:
            if f["kind"] in ("occlusion", "stall"):
                self.line = VirtualLine(board.nl_per_step)
                self.stall = StallDetector(stall_steps)
        self.injected = {}  # fault kind -> count
        self.reboots = {}   # how the pump came back (pump.checkpoint's names) -> count
        # the invariants are checked whenever faults are injected (or when asked)
        checked = bool(self.faults) if checked is None else checked
        self.check = Invariants(board, programme) if checked else None
        self._motor_base = 0    # motor steps before the pump last restarted
        self.restarts = 0
        self._seq = 0
        self.given = {}     # bolus kind -> count started
        self.refused = {}   # reason -> count
        self.alarms = {}    # alarm code -> (first time, times raised)
        self.err_n = 0      # worst |programmed - issued| so far, as err_n / err_d steps
        self.err_d = 1
        self.iterations = 0
        self.pump.wall_base_s = WALL_EPOCH_S   # set up, and its time synced, at the clinic
        self.pump.refill(0, 0, 0, fill)
        err = self.pump.program(0, programme)
        if err is not None:
            raise ScenarioError("programme." + err[0] + ": " + err[1])
        self._load()
        self._drain()

    def run(self, end_s, fixed_tick_s=0, summary=True):
        """Simulate to end_s; returns the summary dict (None if not `summary`: a small heap
        reads the raw counters instead). fixed_tick_s > 0 steps the clock by that much instead
        of jumping (the naive loop, kept for the benchmark's comparison)."""
        self.start(end_s)
        if fixed_tick_s:
            while self.t < end_s:
                self.advance_to(min(self.t + fixed_tick_s, end_s))
        else:
            self.advance_to(end_s)
        return self.summary() if summary else None

    def start(self, end_s=None):
        """Lay out the scripted events up to end_s (None: no end, for a served pump)."""
        self._script = Script(self.events, end_s)

    def next_due_s(self):
        """The next true instant the core, its checkpoints, the script or a fault has
        something to do, or None."""
        t = self.pump.next_due_s
        if t is not None:
            t += self.lag
        c = self.ckpt.due_s()
        dense = None            # the board's one-second cycle while the motor pushes on trouble
        if self.stall is not None and self.pump.plan.rate_num and \
                (self.stalled or self.line.occluded):
            dense = self.t + 1
        for c in (None if c is None else c + self.lag, self._fault_due(), dense):
            if c is not None and (t is None or c < t):
                t = c
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
            if t < self.t:
                t = self.t                     # due while the power was off: now
            if self.faults and self.faults[0]["at"] <= t:
                self._inject(self.faults.pop(0), t)
            else:
                self._step_to(t)
            nxt = script.peek()
            while nxt is not None and nxt[0] <= self.t:
                ev = script.pop()
                if nxt[0] == self.t:           # events while the power was off never happen
                    self._command(ev)
                nxt = script.peek()
            self._drain()
            if self.t >= end_s:
                return

    def commanded(self):
        """A command reached the core from outside the script (the link): follow its plan."""
        self._load()
        self._drain()

    def apply(self, ev):
        """Carry out one scenario event (a dict as in a scenario's [[events]]) now."""
        self._command(ev)
        self._drain()

    def _command(self, ev):
        """One event, then its checkpoint and plan. A refill whose checkpoint a power cut
        lost did happen at the reservoir; the clinician, given no answer, does it again once
        the pump is back (pumpctl reports it may not have acted)."""
        before = self.restarts
        self._apply(ev)
        self._load()
        if self.restarts != before and ev["action"] == "refill":
            self._apply(ev)
            self._load()

    def inject(self, fault):
        """Inject one fault (pumpsim.faults' checked form) now."""
        self._inject(fault, self.t)
        self._drain()

    def _load(self):
        """Hand the core's plan to the motor, as a board does: checkpoint first. A power cut
        inside the write reboots the board."""
        try:
            self.ckpt.guard(self.pump, None, self.t)
        except PowerCut:
            self._drain(committed=False)
            self._reboot(*self._cut)
            return
        self.motor.load(self.pump.plan)
        if self.recorder is not None:
            self.recorder(self.t, self.pump, self.motor.total_steps, self.reservoir.volume_nl)

    def _step_to(self, t):
        self._motor_to(t)
        pump = self.pump
        pump.advance(t - self.lag, self._steps)
        if self.stall is not None and self.stall.update(self._steps, self._moved):
            # as the app does: latched until acknowledged, then delivery retries
            pump.condition(pump.now_s, codes.A_MOTOR_STALL, True)
            pump.condition(pump.now_s, codes.A_MOTOR_STALL, False)
        self._load()
        self.iterations += 1
        i = self.pump.integral
        gap = abs((i.whole - self.motor.total_steps + self._motor_base) * i.den + i.num)
        if gap * self.err_d > self.err_n * i.den:
            self.err_n, self.err_d = gap, i.den
        if self.check is not None:
            self.check.after_step(self)

    def _motor_to(self, t):
        """The motor, the line and the true reservoir run to true time t; only the steps the
        rotor really made draw on the reservoir."""
        steps = self.motor.advance_to(t - self.lag)
        moved = steps
        if self.line is not None:
            moved = 0 if self.stalled else self.line.push(steps, t - self.t)[0]
        self._steps = steps
        self._moved = moved
        self.reservoir.draw(moved, self.board.nl_per_step)
        self.t = t

    # ---- faults ----

    def _fault_due(self):
        return self.faults[0]["at"] if self.faults else None

    def _inject(self, f, t):
        kind = f["kind"]
        if kind != "clear":
            self.injected[kind] = self.injected.get(kind, 0) + 1
        if kind == "power_cut":
            # at t itself: the motor got there, the core never saw it
            self._motor_to(t)
            self._reboot(f["off_s"], f["rtc"])
            return
        self._step_to(t)
        if kind == "cut_in_write":
            # the power fails inside a checkpoint write: one forced now, or (when = "next")
            # the next one the pump makes by itself (a command's, an event's)
            self.flash.arm_cut(f.get("byte", 0))
            self._cut = (f["off_s"], f["rtc"])
            if f.get("when", "now") == "now":
                self.ckpt.due_now()
                self._load()
        elif kind == "occlusion":
            if "passing_nl_per_h" in f:
                self.line.restrict(f["passing_nl_per_h"])
            else:
                self.line.occlude(f.get("permille", 0))
        elif kind == "stall":
            self.stalled = True
        elif kind == "clear":
            self.line.clear()
            self.stalled = False
        elif kind == "flip":
            names = self.store.state.names
            newest = self.store.state._newest
            name = names[newest] if f.get("slot", "newest") == "newest" else names[1 - newest]
            if not self.flash.flip(name, f.get("byte", 0), f.get("mask", 1)):
                self.injected[kind] -= 1

    def _reboot(self, off_s, rtc):
        """Power is cut now: RAM is lost, the motor stops where it got to. After off_s the
        board boots and the core restarts from the flash (pump.checkpoint.recover)."""
        self.motor.load(Plan())             # a board without power issues nothing
        if self.check is not None:
            self.check.cut(self)
        if self.recorder is not None and hasattr(self.recorder, "cut"):
            self.recorder.cut(self.t, off_s)    # before the clock jumps
        self.t += off_s
        if self.check is not None:
            self.check.cut(self)                # nothing issued while the power was off
        pump, _, how = recover(self.store, self.board, self.t if rtc == "kept" else None,
                               self.log_size)
        self.reboots[how] = self.reboots.get(how, 0) + 1
        self.pump = pump
        self.lag = self.t - pump.now_s
        self.restarts += 1
        self.ckpt = Checkpointer(self.store)
        self._motor_base = self.motor.total_steps - pump.integral.whole
        # everything it logged from where its restored log resumed (a new one: from 0)
        self._seq = getattr(pump.log, "resumed", 0)
        if self.check is not None:
            self.check.after_reboot(self, how)
        self._load()
        self._drain()

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
        elif a == "time_sync":
            # a host tells the time, as over the link (the true clock, from a Unix epoch)
            time_sync(pump, now, WALL_EPOCH_S + self.t)
        elif a == "program":
            err = pump.program(now, ev["programme"])
            if err is not None:
                raise ScenarioError("event program at " + clock(now) + ": " + err[0] + ": " +
                                    err[1])

    def _drain(self, committed=True):
        """Gather the figures from the log. Records a power cut lost before their checkpoint
        was written (committed=False) never happened as far as the motor is concerned."""
        if not committed:
            self._seq = self.pump.log.seq
            return
        for seq, t, code, a, b in self.pump.log.since(self._seq):
            if self.check is not None:
                self.check.event(self, t + self.lag, code, a, b)
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
            "days": self.t / 86400,
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
            "checkpoint_writes": self.flash.writes,
            "faults_injected": dict(self.injected),
            "reboots": dict((_HOW[k], v) for k, v in self.reboots.items()),
            "violations": [] if self.check is None else list(self.check.violations),
        }


_HOW = ("restored", "fresh", "lost", "doubt")
