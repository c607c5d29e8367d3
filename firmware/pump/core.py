# The pump controller: time and events in, decisions out. The board layer (or the simulator)
# calls advance(now, steps_issued) at `next_due_s` or whenever an input arrives, then any commands
# for that instant, then reads `plan` and hands it to the step generator. It never reads a clock,
# a pin or a file. Work is per event, not per step; exact arithmetic may allocate long ints, so
# none of this runs in an interrupt handler.
import json

from pump import limits
from pump.codes import (
    MODE_STOPPED, OK, R_STOPPED, R_NOT_PROGRAMMED, R_LOCKOUT, R_COUNT_24H,
    R_UG_PER_HOUR, R_UG_24H, R_RATE, R_RESERVOIR, R_TOO_MANY, R_AMOUNT, R_DURATION,
    R_CRITICAL_ALARM, R_CONCENTRATION, R_VOLUME, R_MISSED, BOLUS_CLINICIAN, BOLUS_PRIMING,
    BOLUS_BRIDGE, BOLUS_PERIODIC, BOLUS_PATIENT, BOLUS_SINGLE, A_LOW_RESERVOIR,
    A_EMPTY_RESERVOIR, A_REFILL_DISCREPANCY, E_PROGRAMME, E_PROGRAMME_REJECTED, E_BOLUS_START,
    E_BOLUS_REFUSED, E_BOLUS_END, E_BOLUS_ABORTED, E_REFILL, E_REFILL_REJECTED, E_STOP,
    E_RESUME)
from pump.alarms import Alarms
from pump.eventlog import EventLog
from pump.exact import Integral, add, ceil_div
from pump.ledger import DoseLedger
from pump.programme import (parse_programme, basal_steps_rate, bolus_steps_rate, within_motor,
                            DAY_S, UG_UNITS)

_HOUR_S = limits.HOUR_S
# The single bolus of mode "bolus": not yet started, running, finished (never restarted).
_SINGLE_PENDING = 0
_SINGLE_RUNNING = 1
_SINGLE_DONE = 2
SINGLE_DONE = _SINGLE_DONE      # for recovery (pump.checkpoint)


class Bolus:
    """One running bolus: its rate in motor steps per second and what it counts for."""

    def __init__(self, kind, start_s, duration_s, dose_ug, rn, rd, replaces_basal):
        self.kind = kind
        self.start_s = start_s
        self.end_s = start_s + duration_s
        self.dose_ug = dose_ug
        self.rn = rn
        self.rd = rd
        self.replaces_basal = replaces_basal


class Plan:
    """What the step generator must do from t0_s to until_s.

    Step j (j = 1..steps) falls at the instant phase + rate * (t - t0) reaches j, where rate is
    rate_num/rate_den steps per second and phase = phase_num/phase_den in [0, 1). The generator
    issues exactly `steps` steps and then stops, even if nobody calls advance() at until_s.
    """

    def __init__(self):
        self.t0_s = 0
        self.until_s = None
        self.rate_num = 0
        self.rate_den = 1
        self.phase_num = 0
        self.phase_den = 1
        self.steps = 0


class Pump:
    def __init__(self, board, now_s=0, log_size=128):
        self.board = board
        self.now_s = now_s
        self.log = EventLog(log_size)
        self.alarms = Alarms(self.log)
        self.ledger = DoseLedger(now_s)
        self.prog = None
        self.source = None           # the programme as given, as JSON text, for snapshots
        self.anchor_s = 0
        self.suspended = False
        # After a restart that lost the clock the time of day is unknown (since this pump
        # second; None: known): the basal runs at the cycle's lowest rate and no periodic
        # bolus starts, for a day at most (pump.snapshot.time_sync, time_known_again).
        self.time_unknown = None
        # The wall clock (Unix s) less the pump's clock, from the last time sync (0: none, or
        # the schedule's time of day no longer follows it): see pump.snapshot.time_sync.
        self.wall_base_s = 0
        self.single = _SINGLE_DONE
        self.integral = Integral()   # programmed steps while delivering (exact)
        self.steps = 0               # steps the motor reported issued
        self.reservoir_nl = 0
        self.boluses = []
        self.patient_starts = []     # (start_s, ug) of patient boluses in the last 24 h
        self.last_patient_s = None
        # After a concentration change the dead volume still holds old drug: this much, at
        # this concentration, is what the next steps deliver (for the dose ledger and bridge).
        self.old_drug_nl = 0
        self.old_conc_ug_per_ml = 0
        self.plan = Plan()
        self.next_due_s = None
        self._plan_base = 0
        self._ledger_key = None
        self._periodic_s = None
        self._periodic_idx = -1
        self._replan()

    # ---- time in ----

    def advance(self, now_s, steps_issued):
        """Account for time passing to now_s and the steps the motor issued meanwhile."""
        dt = now_s - self.now_s
        if dt < 0:
            raise ValueError("time went backwards")
        p = self.plan
        if p.rate_num and dt:
            due = self.integral.whole_after(p.rate_num, p.rate_den, dt)
            if due - self._plan_base > p.steps:
                # The plan ran out (empty reservoir cap, or a late call): delivery stopped there,
                # so the dose ledger needs a point here (its line must not span the pause).
                self.integral.set_whole(self._plan_base + p.steps)
                self._ledger_key = None
            else:
                self.integral.advance(p.rate_num, p.rate_den, dt)
        if steps_issued:
            self._account(steps_issued)
        self.now_s = now_s
        self._events()
        self._replan()

    # ---- commands (all at the instant of the last advance) ----

    def program(self, now_s, source):
        """Install a programme from a dict; returns None or (field, reason), changing nothing.
        Sending the programme already in force again changes nothing either (a retried commit
        must not restart a bolus)."""
        self._at(now_s)
        prog, err = parse_programme(source, self.board)
        if err is None and self.prog is not None and prog.same_as(self.prog):
            return None
        old_drug = None
        if err is None:
            old_drug = self._old_drug_after(prog)
            if prog.mode != MODE_STOPPED:        # stopping is always allowed
                err = self._time_error() or \
                    self._history_error(prog, self._change_peak(prog, old_drug))
        if err is not None:
            self.log.add(now_s, E_PROGRAMME_REJECTED, 0, 0)
            return err
        self._abort_boluses()
        self.old_drug_nl, self.old_conc_ug_per_ml = old_drug
        self.prog = prog
        self.source = json.dumps(source)    # text: a fraction of the dict's RAM
        self.anchor_s = self._new_anchor()
        self.single = _SINGLE_PENDING if prog.single is not None else _SINGLE_DONE
        self._periodic_s, self._periodic_idx = prog.periodic_next(now_s, self.anchor_s)
        self.log.add(now_s, E_PROGRAMME, prog.mode, prog.daily_ug())
        self._events()
        self._replan()
        return None

    def request_patient_bolus(self, now_s):
        """The patient pressed for a bolus; returns OK or the refusal reason (also logged)."""
        self._at(now_s)
        r = self._check_common()
        bolus = None
        if r == OK and self.prog.patient is None:
            r = R_NOT_PROGRAMMED
        if r == OK:
            amount, dur, lockout, count, per_hour = self.prog.patient
            if self.last_patient_s is not None and now_s - self.last_patient_s < lockout:
                r = R_LOCKOUT
            elif self._patient_since(now_s - DAY_S, False) >= count:
                r = R_COUNT_24H
            elif self._patient_since(now_s - _HOUR_S, True) + amount > per_hour:
                r = R_UG_PER_HOUR
            else:
                bolus = (amount, dur) + bolus_steps_rate(amount, dur, self.prog.conc_ug_per_ml,
                                                         self.board)
        return self._grant(BOLUS_PATIENT, r, bolus)

    def request_bolus(self, now_s, amount_ug, duration_s):
        """Clinician single bolus of amount_ug over duration_s, on top of basal."""
        self._at(now_s)
        r = self._check_common()
        if r == OK and not 1 <= amount_ug <= self.board.max_bolus_ug:
            r = R_AMOUNT
        if r == OK and not limits.MIN_BOLUS_S <= duration_s <= limits.MAX_BOLUS_S:
            r = R_DURATION
        bolus = None
        if r == OK:
            bolus = (amount_ug, duration_s) + bolus_steps_rate(
                amount_ug, duration_s, self.prog.conc_ug_per_ml, self.board)
        return self._grant(BOLUS_CLINICIAN, r, bolus, extra=True)

    def request_priming(self, now_s, duration_s=None):
        """Fill the pump tubing and catheter (their dead volume) with drug; basal pauses
        meanwhile. By default it runs at half the motor's top speed. Whatever it displaces is
        counted as drug at the programme's concentration, so repeats meet the 24 h cap."""
        self._at(now_s)
        r = self._check_common()
        volume = self._dead_volume_nl(self.prog) if r == OK else 0
        if r == OK and volume == 0:
            r = R_VOLUME
        if r == OK and duration_s is None:
            duration_s = max(limits.MIN_BOLUS_S, ceil_div(
                2 * volume, self.board.max_steps_per_s * self.board.nl_per_step))
        if r == OK and not limits.MIN_BOLUS_S <= duration_s <= limits.MAX_BOLUS_S:
            r = R_DURATION
        bolus = None
        if r == OK:
            conc = self.prog.conc_ug_per_ml
            if self.old_drug_nl > 0 and self.old_conc_ug_per_ml > conc:
                conc = self.old_conc_ug_per_ml
            dose = ceil_div(volume * conc, 1000000)
            bolus = (dose, duration_s, volume, self.board.nl_per_step * duration_s)
        return self._grant(BOLUS_PRIMING, r, bolus, extra=True, volume_nl=volume,
                           replaces_basal=True)

    def request_bridge(self, now_s):
        """After a concentration change, push the old drug still in the dead volume at the
        programmed dose rate reckoned at the old concentration; basal pauses meanwhile, so the
        patient keeps receiving the prescribed ug/day until the new drug reaches the tip."""
        self._at(now_s)
        r = self._check_common()
        if r == OK and self.old_drug_nl <= 0:
            r = R_CONCENTRATION  # no concentration change pending
        bolus = None
        volume = self.old_drug_nl
        if r == OK:
            old_conc = self.old_conc_ug_per_ml
            rate_ug_day = self.prog.basal_at(now_s, self.anchor_s)[0]
            if rate_ug_day == 0:
                r = R_RATE
            else:
                # volume / (rate * 1e6 / (old_conc * 86400)) seconds
                duration_s = ceil_div(volume * old_conc * 54, rate_ug_day * 625)
                if not limits.MIN_BOLUS_S <= duration_s <= limits.MAX_BOLUS_S:
                    r = R_DURATION
                else:
                    dose = ceil_div(volume * old_conc, 1000000)
                    bolus = (dose, duration_s, volume, self.board.nl_per_step * duration_s)
        return self._grant(BOLUS_BRIDGE, r, bolus, extra=True, volume_nl=volume,
                           replaces_basal=True)

    def stop(self, now_s):
        self._at(now_s)
        if not self.suspended:
            self.suspended = True
            self._abort_boluses()
            self.log.add(now_s, E_STOP, 0, 0)
            self._replan()

    def resume(self, now_s):
        self._at(now_s)
        if self.suspended:
            self.suspended = False
            if self.prog is not None:
                self._periodic_s, self._periodic_idx = self.prog.periodic_next(
                    now_s, self.anchor_s)
            self.log.add(now_s, E_RESUME, 0, 0)
            self._events()
            self._replan()

    def refill(self, now_s, expected_nl, aspirated_nl, added_nl):
        """Refill: the reservoir is emptied (aspirated_nl) and added_nl put in. A difference
        between what the clinician expected and aspirated beyond the tolerance raises a warning.
        The new estimate is added_nl alone: drug left behind is never counted."""
        self._at(now_s)
        cap = self.board.reservoir_nl
        if not (0 <= expected_nl <= cap and 0 <= aspirated_nl <= cap and 0 <= added_nl <= cap):
            self.log.add(now_s, E_REFILL_REJECTED, added_nl, aspirated_nl)
            return R_VOLUME
        discrepancy = aspirated_nl - expected_nl
        self.reservoir_nl = added_nl
        self.log.add(now_s, E_REFILL, added_nl, discrepancy)
        tolerance = limits.DEFAULT_REFILL_TOLERANCE_NL if self.prog is None else \
            self.prog.refill_tolerance_nl
        if abs(discrepancy) > tolerance:
            self.alarms.raise_alarm(A_REFILL_DISCREPANCY, now_s)
            self.alarms.condition_cleared(A_REFILL_DISCREPANCY, now_s)
        if self.prog is not None:
            if added_nl > self.prog.empty_nl:
                self.alarms.condition_cleared(A_EMPTY_RESERVOIR, now_s)
            if added_nl > self.prog.low_nl:
                self.alarms.condition_cleared(A_LOW_RESERVOIR, now_s)
        self._events()
        self._replan()
        return OK

    def acknowledge(self, now_s, code):
        self._at(now_s)
        done = self.alarms.acknowledge(code, now_s)
        self._events()
        self._replan()
        return done

    def condition(self, now_s, code, active):
        """The board layer reports a hardware condition (motor stall, battery): its alarm is
        raised while active; when it goes away the alarm latches until acknowledged, like any
        other. A critical one stops delivery."""
        self._at(now_s)
        if active:
            self.alarms.raise_alarm(code, now_s)
        else:
            self.alarms.condition_cleared(code, now_s)
        self._events()
        self._replan()

    def silence(self, now_s):
        self._at(now_s)
        self.alarms.silence(now_s)
        self._replan()

    def alarm_test(self, now_s):
        self._at(now_s)
        self.alarms.test(now_s)
        self._replan()

    # ---- decisions out and status ----

    def delivering(self):
        """True while the programme may move the motor (not stopped, no critical alarm, and in
        mode "bolus" until its single bolus has run)."""
        return self._may_run() and (self.prog.single is None or self.single != _SINGLE_DONE)

    def tone(self):
        return self.alarms.tone(self.now_s)

    def programmed_nl(self):
        """(num, den): the exact programmed volume while delivering, in nL."""
        n = self.board.nl_per_step
        i = self.integral
        return (i.whole * i.den + i.num) * n, i.den

    def next_periodic_s(self):
        """When the next periodic bolus is due, or None."""
        return self._periodic_s if self.delivering() and self.time_unknown is None else None

    def lockout_remaining_s(self):
        if self.prog is None or self.prog.patient is None or self.last_patient_s is None:
            return 0
        return max(0, self.last_patient_s + self.prog.patient[2] - self.now_s)

    # ---- internals ----

    def _at(self, now_s):
        if now_s != self.now_s:
            raise ValueError("advance() to now before a command")

    def _may_run(self):
        p = self.prog
        return (p is not None and p.mode != MODE_STOPPED and not self.suspended
                and not self.alarms.stops_delivery())

    def _old_drug_after(self, prog):
        """(nL, ug/mL) of old drug in the dead volume once prog is in force. After a change of
        concentration the line holds the old drug; after two quick changes it may hold a mix,
        counted at the stronger of the two (it errs towards more drug)."""
        old = self.prog
        if old is None or old.conc_ug_per_ml == prog.conc_ug_per_ml:
            return self.old_drug_nl, self.old_conc_ug_per_ml
        conc = old.conc_ug_per_ml
        if self.old_drug_nl > 0 and self.old_conc_ug_per_ml > conc:
            conc = self.old_conc_ug_per_ml
        return self._dead_volume_nl(prog), conc

    def _dead_volume_nl(self, prog):
        return self.board.tubing_volume_nl + prog.catheter_nl

    def _account(self, steps):
        """Steps the motor issued: out of the reservoir, into the dose ledger (the first of
        them at the old concentration while old drug fills the dead volume)."""
        nl = steps * self.board.nl_per_step
        self.steps += steps
        self.reservoir_nl = max(0, self.reservoir_nl - nl)
        conc = self.prog.conc_ug_per_ml if self.prog is not None else 0
        old = min(nl, self.old_drug_nl)
        if old > 0:
            self.old_drug_nl -= old
            # The batch in which the old drug runs out (the pump wakes a second before, so
            # it spans at most a second) changes strength part-way: count it all at the
            # stronger drug, or the ledger's straight line could under-count around it.
            old_conc = self.old_conc_ug_per_ml
            if nl > old and conc > old_conc:
                old_conc = conc
            self.ledger.add(old * old_conc)
        self.ledger.add((nl - old) * conc)

    def _check_common(self):
        if self.prog is None or self.prog.mode == MODE_STOPPED:
            return R_NOT_PROGRAMMED
        if self.alarms.stops_delivery():
            return R_CRITICAL_ALARM
        if not self.delivering():
            return R_STOPPED
        if len(self.boluses) >= limits.MAX_ACTIVE_BOLUSES:
            return R_TOO_MANY
        return OK

    def _window_peak(self, prog, anchor_s, boluses, new, old_drug):
        """The most drug a 24 h window can hold, in dose units (UG_UNITS per ug), over every
        window that holds now or any part of an unscheduled bolus (those in `boluses`, or `new` =
        (end_s, dose_ug, replaces_basal) starting now): drug delivered in its past part (the
        ledger) + the schedule in its future part + the share of each unscheduled bolus inside
        it, and old drug in the dead volume (old_drug = (nL, ug/mL)) at its own strength.
        Windows after all of that hold only the schedule, which validation bounds. The
        content is piecewise linear in the window's start s, so only an s at which s or
        s + 24 h meets a breakpoint (a ledger point, a schedule change, a bolus start or end)
        needs trying."""
        now = self.now_s
        last = now  # windows starting after this hold only the schedule
        for b in boluses:
            if b.kind != BOLUS_PERIODIC and b.end_s > last:
                last = b.end_s
        if new is not None and new[0] > last:
            last = new[0]
        best = [max(self._window_at(prog, anchor_s, now - DAY_S, boluses, new, old_drug),
                    self._window_at(prog, anchor_s, last, boluses, new, old_drug))]

        def visit(t):
            for s in (t, t - DAY_S):
                if now - DAY_S < s < last:
                    w = self._window_at(prog, anchor_s, s, boluses, new, old_drug)
                    if w > best[0]:
                        best[0] = w
        self.ledger.each_time(visit)
        visit(now)
        prog.each_breakpoint(now, last + DAY_S, anchor_s, visit)
        for b in boluses:
            if b.kind != BOLUS_PERIODIC:
                visit(b.end_s)
        if new is not None:
            visit(new[0])
        return best[0]

    def _window_at(self, prog, anchor_s, s, boluses, new, old_drug):
        """Drug in the 24 h window from s, in dose units (see _window_peak)."""
        now = self.now_s
        e = s + DAY_S
        a = s if s > now else now
        total = prog.scheduled_units(a, e, anchor_s)
        if s < now:
            total += self.ledger.since(s, now) * 54
        for b in boluses:
            if b.kind != BOLUS_PERIODIC:
                total += self._bolus_units(prog, anchor_s, b.start_s, b.end_s,
                                           b.dose_ug * UG_UNITS, b.replaces_basal, a, e)
        if new is not None:
            total += self._bolus_units(prog, anchor_s, now, new[0], new[1] * UG_UNITS, new[2],
                                       a, e)
        # Old drug still in the dead volume goes out before the new: if it is the stronger,
        # the schedule above under-counts it by this much at most.
        extra_pg = old_drug[0] * (old_drug[1] - prog.conc_ug_per_ml)
        if extra_pg > 0:
            total += extra_pg * 54
        return total

    def _bolus_units(self, prog, anchor_s, start, end, amount, replaces_basal, a, e):
        """What a bolus adds to [a, e): its share inside (rounded up), less the scheduled basal
        it pauses there."""
        lo = start if start > a else a
        hi = end if end < e else e
        if hi <= lo:
            return 0
        units = ceil_div(amount * (hi - lo), end - start)
        if replaces_basal:
            units -= prog.basal_units(lo, hi, anchor_s)
        return units

    def review_change(self, prog):
        """What program() would say of a parsed programme now, without installing it:
        (None or (field, reason), the largest dose in ug, rounded up, in any 24 h window
        holding now: what the last 24 h delivered plus prog's schedule ahead). For the
        clinician's review of a staged programme (the window straddling the change)."""
        peak = self._change_peak(prog, self._old_drug_after(prog))
        if self.prog is not None and prog.same_as(self.prog):
            return None, ceil_div(peak, UG_UNITS)   # committing it changes nothing
        err = None
        if prog.mode != MODE_STOPPED:
            err = self._time_error() or self._history_error(prog, peak)
        return err, ceil_div(peak, UG_UNITS)

    def _time_error(self):
        """A schedule checked at an unknown time of day could land anywhere once it is known."""
        if self.time_unknown is not None:
            return ("time", "the time of day is unknown since a restart: send a time sync "
                    "first")
        return None

    def _change_peak(self, prog, old_drug):
        single = None
        if prog.single is not None:
            single = (self.now_s + prog.single[1], prog.single[0], False)
        return self._window_peak(prog, self._new_anchor(), (), single, old_drug)

    def _new_anchor(self):
        """Where a programme installed now starts its day 0: today, at the time of day the
        schedule's days start (a restart may have moved them on, pump.snapshot; midnight of
        day 0 on a new pump)."""
        return self.now_s - (self.now_s - self.anchor_s) % DAY_S

    def _history_error(self, prog, peak):
        """A new programme on top of what the last 24 h delivered must keep every window
        within the hard daily limit; in mode "bolus" its single bolus must also fit the
        programme's own cap, like any requested bolus. Running boluses do not count: a new
        programme aborts them."""
        if peak > self.board.max_ug_per_day * UG_UNITS:
            return ("max_ug_per_24h", "with the last 24 h's delivery a 24 h window would "
                    "exceed the daily limit of " + str(self.board.max_ug_per_day) + " ug")
        if prog.single is not None and peak > prog.cap_ug_24h * UG_UNITS:
            return ("single_bolus.amount_ug", "with the last 24 h's delivery it would exceed "
                    "max_ug_per_24h")
        return None

    def _check_dose(self, bolus, extra, volume_nl, replaces_basal):
        """Per-request checks shared by every requested bolus: 24 h cap, motor speed, reservoir.
        bolus is (dose_ug, duration_s, rate_num, rate_den)."""
        p = self.prog
        dose_ug, duration_s, rn, rd = bolus
        if replaces_basal:
            for b in self.boluses:
                if b.replaces_basal:
                    return R_TOO_MANY  # one basal pause at a time
        peak = self._window_peak(p, self.anchor_s, self.boluses,
                                 (self.now_s + duration_s, dose_ug, replaces_basal),
                                 (self.old_drug_nl, self.old_conc_ug_per_ml))
        # The motor may run one step ahead of the exact schedule: keep that step of room.
        conc = p.conc_ug_per_ml
        if self.old_drug_nl > 0 and self.old_conc_ug_per_ml > conc:
            conc = self.old_conc_ug_per_ml
        if peak + self.board.nl_per_step * conc * 54 > p.cap_ug_24h * UG_UNITS:
            return R_UG_24H
        if extra:
            parts = p.motor_parts(self.board)
            for b in self.boluses:
                if b.kind in (BOLUS_CLINICIAN, BOLUS_PRIMING, BOLUS_BRIDGE):
                    parts.append((b.rn, b.rd))
            parts.append((rn, rd))
            if not within_motor(parts, self.board):
                return R_RATE
        if volume_nl is None:
            volume_nl = ceil_div(dose_ug * 1000000, p.conc_ug_per_ml)
        if volume_nl > self.reservoir_nl - p.empty_nl:
            return R_RESERVOIR
        return OK

    def _grant(self, kind, r, bolus, extra=False, volume_nl=None, replaces_basal=False):
        """Run the shared checks on a request that passed its own, then start it or log why
        not. `extra` marks boluses the programme did not reserve motor speed for."""
        if r == OK:
            r = self._check_dose(bolus, extra, volume_nl, replaces_basal)
        if r != OK:
            self.log.add(self.now_s, E_BOLUS_REFUSED, kind, r)
            return r
        if kind == BOLUS_PATIENT:
            self.last_patient_s = self.now_s
            self.patient_starts.append((self.now_s, bolus[0]))
        self._start(kind, *bolus, replaces_basal=replaces_basal)
        self._replan()
        return OK

    def _start(self, kind, dose_ug, duration_s, rn, rd, replaces_basal=False):
        now = self.now_s
        self.boluses.append(Bolus(kind, now, duration_s, dose_ug, rn, rd, replaces_basal))
        self.log.add(now, E_BOLUS_START, kind, dose_ug)

    def _patient_since(self, after_s, ug):
        """Patient boluses started after after_s: their count, or their ug if ug."""
        total = 0
        for start, amount in self.patient_starts:
            if start > after_s:
                total += amount if ug else 1
        return total

    def _abort_boluses(self):
        for b in self.boluses:
            self.log.add(self.now_s, E_BOLUS_ABORTED, b.kind, self.now_s - b.start_s)
            if b.kind == BOLUS_SINGLE:
                self.single = _SINGLE_DONE  # never restarted: part of it was given
        self.boluses = []

    def _events(self):
        """Everything due at now: bolus ends and starts, reservoir alarms, history trim."""
        now = self.now_s
        self.alarms.tick(now)
        if self.time_unknown is not None and now >= self.time_unknown + DAY_S:
            from pump.snapshot import time_known_again
            time_known_again(self, now)
        if self.boluses:
            keep = []
            for b in self.boluses:
                if b.end_s <= now:
                    self.log.add(now, E_BOLUS_END, b.kind, b.dose_ug)
                    if b.kind == BOLUS_SINGLE:
                        self.single = _SINGLE_DONE
                else:
                    keep.append(b)
            self.boluses = keep
        while self.patient_starts and self.patient_starts[0][0] <= now - DAY_S:
            self.patient_starts.pop(0)
        p = self.prog
        if p is None or p.mode == MODE_STOPPED:
            return
        if self._steps_left() == 0:
            self.alarms.raise_alarm(A_EMPTY_RESERVOIR, now)  # stopped or not: it is empty
        if self.reservoir_nl <= p.low_nl:
            self.alarms.raise_alarm(A_LOW_RESERVOIR, now)
        if not self.delivering():
            self._abort_boluses()
        elif self.single == _SINGLE_PENDING:
            amount, dur = p.single
            self.single = _SINGLE_RUNNING
            self._start(BOLUS_SINGLE, amount, dur, *bolus_steps_rate(
                amount, dur, p.conc_ug_per_ml, self.board))
        self._periodic_due(p, now)

    def _periodic_due(self, p, now):
        """Start the periodic bolus due now. One found already late (the board woke late)
        gives the rest of its programmed slot, at its programmed rate, so it stays within what
        the schedule counts; one whose slot is over, or that cannot run, is logged."""
        while self._periodic_s is not None and self._periodic_s <= now:
            amount, dur = p.periodic[self._periodic_idx]
            left = self._periodic_s + dur - now
            if not self._may_run():
                r = R_CRITICAL_ALARM if self.alarms.stops_delivery() else R_STOPPED
            elif left <= 0 or self.time_unknown is not None:
                r = R_MISSED
            else:
                r = OK
                self._start(BOLUS_PERIODIC, ceil_div(amount * left, dur), left,
                            *bolus_steps_rate(amount, dur, p.conc_ug_per_ml, self.board))
            if r != OK:
                self.log.add(now, E_BOLUS_REFUSED, BOLUS_PERIODIC, r)
            self._periodic_s, self._periodic_idx = p.periodic_next(self._periodic_s + 1,
                                                                   self.anchor_s)

    def _steps_left(self):
        """Steps the reservoir may still give: up to and including the one that reaches the
        empty threshold, and never more than the estimate holds."""
        n = self.board.nl_per_step
        left = self.reservoir_nl - self.prog.empty_nl
        if left <= 0:
            return 0
        return min(ceil_div(left, n), self.reservoir_nl // n)

    def _rate(self):
        """The total programmed rate now, (num, den) steps per second."""
        p = self.prog
        rn, rd = 0, 1
        basal = True
        for b in self.boluses:
            rn, rd = add(rn, rd, b.rn, b.rd)
            if b.replaces_basal:
                basal = False
        if basal:
            if self.time_unknown is not None:
                from pump.snapshot import lowest_basal   # only after a restart lost the clock
                ug_day = lowest_basal(p)
            else:
                ug_day = p.basal_at(self.now_s, self.anchor_s)[0]
            if ug_day:
                n, d = basal_steps_rate(ug_day, p.conc_ug_per_ml, self.board)
                rn, rd = add(rn, rd, n, d)
        return rn, rd

    def _replan(self):
        """Work out the plan from now and when the next thing is due."""
        now = self.now_s
        plan = self.plan
        i = self.integral
        plan.t0_s = now
        plan.phase_num = i.num
        plan.phase_den = i.den
        self._plan_base = i.whole
        due = self.alarms.next_due(now)
        if not self.delivering():
            plan.rate_num, plan.rate_den, plan.steps = 0, 1, 0
            plan.until_s = due
            self.next_due_s = due
            self._mark_ledger()
            return
        p = self.prog
        candidates = [due, self._periodic_s, p.basal_at(now, self.anchor_s)[1]]
        if self.time_unknown is not None:
            candidates.append(self.time_unknown + DAY_S)
        for b in self.boluses:
            candidates.append(b.end_s)
        rn, rd = self._rate()
        plan.rate_num, plan.rate_den = rn, rd
        if rn and self.old_drug_nl > 0:
            k = ceil_div(self.old_drug_nl, self.board.nl_per_step)
            old_n, old_d = i.seconds_until(i.whole + k, rn, rd)
            if old_n < old_d:
                # The old drug runs out within the second: pin a ledger point now.
                self._ledger_key = None
            else:
                candidates.append(now + old_n // old_d)  # the second before it runs out
            candidates.append(now + ceil_div(old_n, old_d))
        self._mark_ledger()
        cap = 0
        if rn:
            cap = self._steps_left()
            cap_n, cap_d = i.seconds_until(i.whole + cap, rn, rd)
            candidates.append(now + ceil_div(cap_n, cap_d))
            # Low: raise it no later than the step that crosses the threshold.
            if A_LOW_RESERVOIR not in self.alarms.table:
                need = ceil_div(self.reservoir_nl - p.low_nl, self.board.nl_per_step)
                if need > 0:
                    ln, ld = i.seconds_until(i.whole + need, rn, rd)
                    if ln < ld:
                        self.alarms.raise_alarm(A_LOW_RESERVOIR, now)
                    else:
                        candidates.append(now + ln // ld)
        until = None
        for c in candidates:
            if c is not None and c > now and (until is None or c < until):
                until = c
        plan.until_s = until
        if rn == 0:
            plan.steps = 0
        elif until is None:
            plan.steps = cap
        else:
            plan.steps = min(cap, i.whole_after(rn, rd, until - now) - i.whole)
        self.next_due_s = until

    def _mark_ledger(self):
        """Pin a ledger point when the drug rate may change (steps/s or concentration)."""
        key = (self.plan.rate_num, self.plan.rate_den, self.old_drug_nl > 0,
               None if self.prog is None else self.prog.conc_ug_per_ml)
        if key != self._ledger_key:
            self._ledger_key = key
            self.ledger.mark(self.now_s)
