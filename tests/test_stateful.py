"""SR-9: a stateful hypothesis test of the controller. A RuleBasedStateMachine drives Pump +
VirtualMotor + VirtualReservoir through random programmes (valid, and now and then invalid),
time jumps, patient presses, clinician / priming / bridge boluses, stop and resume, refills and
alarm acknowledgements, silences and tests, and checks after every rule (and inside every time
jump) that SR-1 to SR-7 hold together and that a critical alarm always means no steps.

The board's duty is modelled as the simulator does it: advance() at every next_due_s (a time
jump goes to min(target, next_due_s) again and again), then any commands for that instant, then
the motor is reloaded with pump.plan. The motor is also looked at, without telling the pump, at
random instants inside segments.
"""
from fractions import Fraction

from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from pump.codes import (OK, ALARM_PRIORITY, P_CRITICAL, A_LOW_RESERVOIR, A_EMPTY_RESERVOIR,
                        A_REFILL_DISCREPANCY, A_TEST, BOLUS_CLINICIAN, BOLUS_PATIENT,
                        BOLUS_PRIMING, BOLUS_BRIDGE, E_ALARM, E_ALARM_ACK, E_BOLUS_REFUSED,
                        E_BOLUS_START, E_PROGRAMME, E_PROGRAMME_REJECTED, R_VOLUME)
from pump.core import Pump
from pump.programme import parse_programme
from pumpsim.motor import VirtualMotor, VirtualReservoir

# The programme and board strategies are shared with the property tests (same folder, as the
# core tests share tests/core/corekit.py).
from test_properties import boards, ceil_div, mutated, programme_dicts

DAY = 86400
HOUR = 3600
DEFAULT_EMPTY_NL = 1_000_000
DEFAULT_LOW_NL = 2_000_000

# How long before a command: often at once, else minutes to days later.
DT = st.one_of(st.just(0), st.integers(0, 2 * HOUR), st.integers(0, 2 * DAY))

# Mostly realistic drug volumes (a few mL a day), now and then anything the limits allow.
ML_PER_DAY = st.sampled_from((1, 5, 5, 20, 20, None))


def _limits(d):
    """What this test needs of a programme, read from the dict (not from the core):
    (mode, low nL, empty nL, patient (amount, lockout s, max/24 h, ug/h) or None)."""
    pb = d.get("patient_bolus")
    patient = None if pb is None else (pb["amount_ug"], pb["lockout_min"] * 60,
                                       pb["max_per_24h"], pb["max_ug_per_hour"])
    return (d["mode"], d.get("low_reservoir_ul", DEFAULT_LOW_NL // 1000) * 1000,
            d.get("empty_reservoir_ul", DEFAULT_EMPTY_NL // 1000) * 1000, patient)


class PumpMachine(RuleBasedStateMachine):

    @initialize(board=boards(reservoir_nl=st.one_of(st.just(100_000_000),
                                                   st.integers(3_000_000, 100_000_000))),
                fill=st.one_of(st.none(), st.none(), st.integers(0, 100_000_000),
                               st.integers(0, 5_000_000)),
                data=st.data())
    def start(self, board, fill, data):
        self.board = board
        self.n = board.nl_per_step
        fill = board.reservoir_nl if fill is None else min(fill, board.reservoir_nl)
        self.pump = Pump(board, 0, 256)
        self.motor = VirtualMotor()
        self.res = VirtualReservoir(fill)
        self.events = []
        self.seq = 0
        self.limits = None            # _limits() of the programme in force
        self.patient_starts = []      # (t, amount, lockout s, max/24 h, ug/h) per patient start
        assert self.pump.refill(0, 0, 0, fill) == OK
        self._after()
        d = data.draw(programme_dicts(board, modes=("continuous", "flex"),
                                      max_ml_per_day=data.draw(ML_PER_DAY, "mL/day")),
                      "first programme")
        assert self.pump.program(0, d) is None
        self.limits = _limits(d)
        self._after()

    # ---- plumbing ----

    def _drain(self):
        recs = self.pump.log.since(self.seq)
        assert not recs or recs[0][0] == self.seq, "event log overwrote unread records"
        self.events.extend(recs)
        self.seq = self.pump.log.seq
        return recs

    def _after(self):
        """After an advance or a command: reload the motor with the new plan (the board's
        duty) and remember where the integral stood."""
        p = self.pump.plan
        self.motor.load(p)
        self.plan = (p.t0_s, Fraction(p.rate_num, p.rate_den),
                     Fraction(p.phase_num, p.phase_den), p.steps, self.pump.integral.whole)
        recs = self._drain()
        self._check_latching()
        return recs

    def _check_latching(self):
        """SR-6 / SR-12: an alarm (other than the self-clearing test) leaves the table only
        once acknowledged after it was raised, and EMPTY / LOW only with the reservoir above
        their thresholds."""
        now = set(self.pump.alarms.table)
        for code in getattr(self, "alarms_before", set()) - now - {A_TEST}:
            raised = max(i for i, e in enumerate(self.events)
                         if e[2] == E_ALARM and e[3] == code)
            assert any(e[2] == E_ALARM_ACK and e[3] == code for e in self.events[raised:]), (
                "alarm cleared without acknowledgement", code)
            # Under a "stopped" programme the core raises no reservoir alarms at all (nothing
            # can be delivered), so there they may clear with the reservoir still low.
            may_run = self.limits[0] != "stopped"
            if code == A_EMPTY_RESERVOIR and may_run:
                assert self.pump.reservoir_nl > self.limits[2]
            if code == A_LOW_RESERVOIR and may_run:
                assert self.pump.reservoir_nl > self.limits[1]
        self.alarms_before = now

    def _programmed_at(self, u):
        """The exact programmed integral at instant u under the loaded plan (the core pins it
        at the plan's last step if the plan ran out)."""
        t0, rate, phase, steps, base = self.plan
        v = base + phase + rate * (u - t0)
        if v.numerator // v.denominator > base + steps:
            v = Fraction(base + steps)
        return v

    def _request(self, kind, fn, *args):
        """A bolus request: granted with a start record, or refused with a reason code and a
        refusal record naming it (SR-13 as SR-9 needs it)."""
        now = self.pump.now_s
        r = fn(now, *args)
        event("request kind %d -> %d" % (kind, r))
        recs = self._after()
        if r == OK:
            assert any(e[1:4] == (now, E_BOLUS_START, kind) for e in recs), recs
        else:
            assert isinstance(r, int) and r > OK, r
            assert recs and recs[0][1:] == (now, E_BOLUS_REFUSED, kind, r), recs
            assert not any(e[2] == E_BOLUS_START for e in recs)
        return r

    # ---- rules ----

    @rule(dt=DT, data=st.data())
    def program(self, dt, data):
        self.wait(dt, None)
        modes = ("continuous", "flex", "flex", "bolus", "stopped")
        d = data.draw(programme_dicts(self.board, modes=modes, valid_only=False,
                                      max_ml_per_day=data.draw(ML_PER_DAY, "mL/day")),
                      "programme")
        if data.draw(st.integers(0, 5), "mutate?") == 0:
            d = data.draw(mutated(d), "mutated")
        prog, err = parse_programme(d, self.board)
        now = self.pump.now_s
        before = (id(self.pump.prog), self.pump.plan.steps, self.pump.plan.rate_num,
                  self.pump.plan.rate_den, len(self.pump.boluses), self.pump.next_due_s)
        same = self.pump.prog is not None and prog is not None and prog.same_as(self.pump.prog)
        got = self.pump.program(now, d)
        event("programme accepted: %s" % (got is None))
        recs = self._after()
        if err is not None:
            assert got == err
        else:
            # The pump may still refuse a valid programme against what the last 24 h gave.
            assert got is None or (isinstance(got[0], str) and isinstance(got[1], str))
        if got is None:
            self.limits = _limits(d)
            if not same:     # the programme in force sent again changes nothing
                assert any(e[1:3] == (now, E_PROGRAMME) for e in recs)
        else:
            # SR-8 inside SR-9: rejected whole, therapy unchanged.
            assert (id(self.pump.prog), self.pump.plan.steps, self.pump.plan.rate_num,
                    self.pump.plan.rate_den, len(self.pump.boluses),
                    self.pump.next_due_s) == before
            assert [e[1:3] for e in recs] == [(now, E_PROGRAMME_REJECTED)]

    @rule(dt=st.one_of(st.integers(0, 120), st.integers(0, 2 * HOUR), st.integers(0, 3 * DAY)),
          data=st.data())
    def wait(self, dt, data):
        """Time passes to now + dt: advance at every next_due_s on the way, probing the motor
        inside segments."""
        pump = self.pump
        target = pump.now_s + dt
        probes = [] if data is None else sorted(data.draw(st.lists(
            st.fractions(pump.now_s, target, max_denominator=1000), max_size=6), "probes"))
        k = 0
        while pump.now_s < target:
            nd = pump.next_due_s
            assert nd is None or nd > pump.now_s
            nxt = target if nd is None or nd > target else nd
            start = pump.now_s
            delivering = pump.delivering()
            res0 = pump.reservoir_nl
            lim = self.limits
            low_in_table = A_LOW_RESERVOIR in pump.alarms.table
            issued_before = self.motor.issued_in_plan
            pending = 0
            while k < len(probes) and probes[k] <= start:
                k += 1
            while k < len(probes) and probes[k] < nxt:
                pending += self._look(probes[k], delivering)
                k += 1
            pending += self._look(nxt, delivering)
            seg = pending
            # SR-6: a segment never takes the estimate past the empty threshold, nor below 0.
            if lim is not None and seg:
                empty = lim[2]
                assert res0 > empty and seg <= min(ceil_div(res0 - empty, self.n),
                                                   res0 // self.n), ("SR-6", start, seg)
            # SR-7: a step inside this segment that takes the estimate to <= low: the alarm was
            # raised at the segment start at the latest (no advance happens before nxt).
            if lim is not None and seg and res0 > lim[1] and res0 - seg * self.n <= lim[1]:
                j = ceil_div(res0 - lim[1], self.n)
                t0, rate, phase, steps, base = self.plan
                t_j = t0 + (issued_before + j - phase) / rate
                assert start <= t_j <= nxt
                if t_j < nxt:
                    assert low_in_table, ("SR-7 LOW not raised before step", t_j)
            if seg:
                event("steps issued in a wait")
            self.res.draw(seg, self.n)
            pump.advance(nxt, seg)
            self._after()
            self._check_now()

    @rule()
    def wait_for_next_due(self):
        """Time passes to the next instant the core asked to be woken at (if any)."""
        nd = self.pump.next_due_s
        if nd is not None and nd - self.pump.now_s <= 7 * DAY:
            self.wait(nd - self.pump.now_s, None)

    def _look(self, u, delivering):
        """Run the motor to u; SR-1 against the plan's exact integral; no step while not
        delivering."""
        s = self.motor.advance_to(u)
        if not delivering:
            assert s == 0, ("step while not delivering", u)
        v = self._programmed_at(u)
        assert abs(v - self.motor.total_steps) <= 1, ("SR-1", u, v, self.motor.total_steps)
        return s

    @rule(dt=DT)
    def press(self, dt):
        self.wait(dt, None)
        now = self.pump.now_s
        r = self._request(BOLUS_PATIENT, self.pump.request_patient_bolus)
        if r == OK:
            amount, lockout, count, per_hour = self.limits[3]
            self.patient_starts.append((now, amount, lockout, count, per_hour))

    @rule(amount=st.one_of(st.integers(1, 100), st.integers(-5, 2000)),
          duration=st.one_of(st.integers(1, 240).map(lambda m: m * 60), st.integers(0, DAY + 60)),
          dt=DT)
    def clinician_bolus(self, amount, duration, dt):
        self.wait(dt, None)
        self._request(BOLUS_CLINICIAN, self.pump.request_bolus, amount, duration)

    @rule(duration=st.one_of(st.none(), st.integers(0, 4 * HOUR)), dt=DT)
    def priming(self, duration, dt):
        self.wait(dt, None)
        self._request(BOLUS_PRIMING, self.pump.request_priming, duration)

    @rule(dt=DT)
    def bridge(self, dt):
        """Push old drug out of the dead volume after a concentration change (the pump keeps
        the old concentration; refused when there was no change)."""
        self.wait(dt, None)
        self._request(BOLUS_BRIDGE, self.pump.request_bridge)

    @rule(dt=DT)
    def stop(self, dt):
        self.wait(dt, None)
        self.pump.stop(self.pump.now_s)
        self._after()
        assert self.pump.plan.steps == 0 and not self.pump.delivering()

    @rule(dt=DT)
    def resume(self, dt):
        self.wait(dt, None)
        self.pump.resume(self.pump.now_s)
        self._after()

    @rule(dt=DT, data=st.data())
    def refill(self, dt, data):
        self.wait(dt, None)
        cap = self.board.reservoir_nl
        added = data.draw(st.one_of(st.just(cap), st.integers(0, cap),
                                    st.integers(0, 3_000_000), st.integers(-1, cap + 1)),
                          "added")
        expected = data.draw(st.one_of(st.just(self.pump.reservoir_nl),
                                       st.integers(0, cap)), "expected")
        aspirated = data.draw(st.one_of(st.just(max(0, self.res.volume_nl)),
                                        st.integers(0, cap)), "aspirated")
        r = self.pump.refill(self.pump.now_s, expected, aspirated, added)
        if r == OK:
            self.res.volume_nl = added
            assert self.pump.reservoir_nl == added
        else:
            assert r == R_VOLUME
        self._after()

    @rule(code=st.sampled_from((A_LOW_RESERVOIR, A_EMPTY_RESERVOIR, A_REFILL_DISCREPANCY,
                                A_TEST)), dt=DT)
    def acknowledge(self, code, dt):
        self.wait(dt, None)
        self.pump.acknowledge(self.pump.now_s, code)
        self._after()

    @rule(dt=DT)
    def acknowledge_all(self, dt):
        self.wait(dt, None)
        for code in list(self.pump.alarms.table):
            self.pump.acknowledge(self.pump.now_s, code)
        self._after()

    @rule(dt=DT)
    def silence(self, dt):
        self.wait(dt, None)
        self.pump.silence(self.pump.now_s)
        self._after()

    @rule(dt=DT)
    def alarm_test(self, dt):
        self.wait(dt, None)
        self.pump.alarm_test(self.pump.now_s)
        self._after()

    # ---- invariants (after every rule) ----

    def teardown(self):
        for code in sorted(self.pump.alarms.table) if hasattr(self, "pump") else ():
            event("alarm at the end: %d" % code)

    def _check_now(self):
        self.reservoir_estimate_bounded()
        self.integral_tracks_motor()
        self.critical_alarm_means_no_steps()
        self.delivering_means_drug_left()
        self.low_alarm_when_low()

    @invariant()
    def reservoir_estimate_bounded(self):
        """SR-5: 0 <= estimate <= truth."""
        assert 0 <= self.pump.reservoir_nl <= self.res.volume_nl, (
            self.pump.reservoir_nl, self.res.volume_nl)

    @invariant()
    def integral_tracks_motor(self):
        """SR-1: |exact programmed integral - motor steps| <= 1 (all steps reported)."""
        i = self.pump.integral
        v = Fraction(i.whole * i.den + i.num, i.den)
        assert abs(v - self.motor.total_steps) <= 1, (v, self.motor.total_steps)
        assert self.pump.steps == self.motor.total_steps

    @invariant()
    def critical_alarm_means_no_steps(self):
        """SR-9: a critical alarm present => the plan issues no step."""
        if any(ALARM_PRIORITY[c] == P_CRITICAL for c in self.pump.alarms.table):
            assert self.pump.plan.steps == 0 and not self.pump.delivering()

    @invariant()
    def delivering_means_drug_left(self):
        """SR-6: the pump never claims to deliver with no step left above the empty
        threshold: the EMPTY alarm must have stopped it."""
        pump = self.pump
        if self.limits is not None and pump.delivering():
            empty = self.limits[2]
            assert pump.reservoir_nl > empty and pump.reservoir_nl >= self.n, (
                "delivering at empty without the EMPTY alarm", pump.now_s,
                pump.reservoir_nl, empty, sorted(pump.alarms.table), pump.next_due_s)

    @invariant()
    def low_alarm_when_low(self):
        """SR-7: whenever a (non-stopped) programme is in force and the estimate is at or below
        its low threshold, the LOW alarm is present."""
        if self.limits is not None and self.limits[0] != "stopped" and \
                self.pump.reservoir_nl <= self.limits[1]:
            assert A_LOW_RESERVOIR in self.pump.alarms.table

    @invariant()
    def patient_limits_hold(self):
        """SR-2 / SR-3 over the whole history, each start judged by the programme in force
        when it started: lockout start to start, count per rolling 24 h, ug per rolling hour."""
        starts = self.patient_starts
        logged = [e[1] for e in self.events if e[2] == E_BOLUS_START and e[3] == BOLUS_PATIENT]
        assert logged == [s[0] for s in starts]
        for j, (t, amount, lockout, count, per_hour) in enumerate(starts):
            if j:
                assert t - starts[j - 1][0] >= lockout, ("SR-2", starts[j - 1][0], t)
            day = [s for s in starts[:j + 1] if s[0] > t - DAY]
            hour = [s for s in starts[:j + 1] if s[0] > t - HOUR]
            assert len(day) <= count, ("SR-3 count", t)
            assert sum(s[1] for s in hour) <= per_hour, ("SR-3 ug/h", t)

    @invariant()
    def time_never_stalls(self):
        """The board is never asked to come back at or before now."""
        nd = self.pump.next_due_s
        assert nd is None or nd > self.pump.now_s


PumpMachine.TestCase.settings = settings(
    max_examples=100, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink))
TestPumpMachine = PumpMachine.TestCase
