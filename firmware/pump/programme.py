# The therapy programme: parsing with whole-or-nothing validation, and the schedule arithmetic the
# controller asks of it (basal rate at an instant, next change, periodic bolus times, the largest
# scheduled dose in any 24 h window). Doses are integer ug, concentration ug/mL, volumes nL,
# times s. Every mode is held as a flex schedule (continuous = one day with one step), so the
# controller has one code path. Parse-time work allocates; the per-event queries do not.
from pump import fields, limits
from pump.codes import MODE_STOPPED, MODE_CONTINUOUS, MODE_FLEX, MODE_BOLUS, MODE_NAMES
from pump.exact import ceil_div, gcd

DAY_S = limits.DAY_S
UG_UNITS = 54000000  # dose units per ug: pg x 54, so that every basal integral is whole

_TOP = ("mode", "concentration_ug_per_ml", "max_ug_per_24h", "low_reservoir_ul",
        "empty_reservoir_ul", "catheter_volume_ul", "refill_tolerance_ul", "rate_ug_per_day",
        "flex", "periodic_boluses", "patient_bolus", "single_bolus")
_PATIENT = ("amount_ug", "duration_min", "lockout_min", "max_per_24h", "max_ug_per_hour")


class Programme:
    """A validated programme. Build it with parse_programme(); never mutate it."""

    def __init__(self):
        self.mode = MODE_STOPPED
        self.conc_ug_per_ml = 0
        self.cap_ug_24h = 0
        self.low_nl = limits.DEFAULT_LOW_NL
        self.empty_nl = limits.DEFAULT_EMPTY_NL
        self.catheter_nl = 0
        self.refill_tolerance_nl = limits.DEFAULT_REFILL_TOLERANCE_NL
        self.days = ()        # per cycle day: (starts_s tuple, rates_ug_per_day tuple)
        self.periodic = ()    # (amount_ug, duration_s) per periodic bolus
        self.periodic_times = ()  # sorted (offset in day s, index into periodic)
        self.patient = None   # (amount_ug, duration_s, lockout_s, max_per_24h, max_ug_per_hour)
        self.single = None    # (amount_ug, duration_s)
        self.sched_max_ug_24h = 0  # largest scheduled dose in any 24 h window, rounded up
        self._prefix = ()     # running basal totals per cycle day (see _prefix_sums)
        self._step_prefix = ()
        self._periodic_prefix = (0,)  # running periodic totals (dose units) by start time

    # --- schedule queries (called per event) ---

    def basal_at(self, t, anchor_s):
        """(rate ug/day in force at t, the next instant the rate may change)."""
        since = t - anchor_s
        day_no = since // DAY_S
        day_start = anchor_s + day_no * DAY_S
        starts, rates = self.days[day_no % len(self.days)]
        sec = since - day_no * DAY_S
        i = len(starts) - 1
        while starts[i] > sec:
            i -= 1
        nxt = day_start + (starts[i + 1] if i + 1 < len(starts) else DAY_S)
        return rates[i], nxt

    def periodic_next(self, t, anchor_s):
        """(start instant >= t of the next periodic bolus, its index), or (None, -1)."""
        times = self.periodic_times
        if not times:
            return None, -1
        since = t - anchor_s
        day_start = anchor_s + (since // DAY_S) * DAY_S
        sec = t - day_start
        for off, idx in times:
            if off >= sec:
                return day_start + off, idx
        return day_start + DAY_S + times[0][0], times[0][1]

    def day_dose_ug(self, day_no):
        """Scheduled basal + periodic ug for cycle day day_no, rounded up."""
        starts, rates = self.days[day_no % len(self.days)]
        total = 0
        for i in range(len(starts)):
            end = starts[i + 1] if i + 1 < len(starts) else DAY_S
            total += rates[i] * (end - starts[i])
        ug = ceil_div(total, DAY_S)
        for off, idx in self.periodic_times:
            ug += self.periodic[idx][0]
        return ug

    def same_as(self, other):
        """True if other would deliver exactly as this one does (a resent programme)."""
        return (self.mode, self.conc_ug_per_ml, self.cap_ug_24h, self.low_nl, self.empty_nl,
                self.catheter_nl, self.refill_tolerance_nl, self.days, self.periodic,
                self.periodic_times, self.patient, self.single) == \
            (other.mode, other.conc_ug_per_ml, other.cap_ug_24h, other.low_nl, other.empty_nl,
             other.catheter_nl, other.refill_tolerance_nl, other.days, other.periodic,
             other.periodic_times, other.patient, other.single)

    def basal_given(self, t, anchor_s):
        """Scheduled basal from anchor_s to t (t may come before it), in ug*s/day, from the
        prefix sums made at parse time: a few steps of work whatever the span."""
        k = (t - anchor_s) // DAY_S
        q, r = divmod(k, len(self.days))
        sec = t - anchor_s - k * DAY_S
        starts, rates = self.days[r]
        i = len(starts) - 1
        while starts[i] > sec:
            i -= 1
        return (q * self._prefix[-1] + self._prefix[r] + self._step_prefix[r][i] +
                rates[i] * (sec - starts[i]))

    def periodic_given(self, t, anchor_s, scale, up):
        """Scheduled periodic bolus dose from anchor_s to t, in dose units x scale, a bolus cut
        by t counted for its share, rounded up if `up`, else down (so a difference of two
        readings never under-counts). Periodic boluses never overlap, so at most one of
        today's and the last of yesterday's can be running at t."""
        times = self.periodic_times
        k = (t - anchor_s) // DAY_S
        sec = t - anchor_s - k * DAY_S
        lo, hi = 0, len(times)  # lo: how many of today's started before sec
        while lo < hi:
            mid = (lo + hi) // 2
            if times[mid][0] < sec:
                lo = mid + 1
            else:
                hi = mid
        total = (k * self._periodic_prefix[-1] + self._periodic_prefix[lo]) * scale
        if lo:  # the last of today's to start may still be running
            off, idx = times[lo - 1]
            total -= self._unfinished(idx, off - sec, scale, up)
        off, idx = times[-1]  # as may yesterday's last, across midnight
        total -= self._unfinished(idx, off - DAY_S - sec, scale, up)
        return total

    def _unfinished(self, idx, start_rel, scale, up):
        """The part of periodic bolus idx, started start_rel s from now, still to come: it
        was counted whole, so this comes off (rounded down if the total rounds up)."""
        amount, dur = self.periodic[idx]
        left = start_rel + dur
        if left <= 0:
            return 0
        rest = amount * UG_UNITS * scale * left
        return rest // dur if up else ceil_div(rest, dur)

    def basal_units(self, a, b, anchor_s, scale=1):
        """Scheduled basal dose in [a, b), exactly, in dose units x scale (UG_UNITS = 1 ug)."""
        if b <= a:
            return 0
        return (self.basal_given(b, anchor_s) - self.basal_given(a, anchor_s)) * 625 * scale

    def scheduled_units(self, a, b, anchor_s, scale=1):
        """Scheduled dose (basal + periodic boluses) in [a, b), in dose units x scale. Dose
        units are pg x 54, so basal r ug/day for dt s is exactly r*dt*625. A periodic bolus
        cut by the window counts its share rounded up; a scale that every periodic duration
        divides makes that exact too (validation uses one)."""
        if b <= a:
            return 0
        total = self.basal_units(a, b, anchor_s, scale)
        if self.periodic_times:
            total += (self.periodic_given(b, anchor_s, scale, True) -
                      self.periodic_given(a, anchor_s, scale, False))
        return total

    def each_breakpoint(self, a, b, anchor_s, visit):
        """Call visit(t) for each instant t in (a, b] where the scheduled rate may change (a
        flex step, a periodic bolus start or end): where a windowed dose can peak. A callback
        rather than a generator or a list, so a small heap needs no block for it."""
        day_no = (a - anchor_s) // DAY_S
        day_start = anchor_s + day_no * DAY_S
        while day_start < b:
            starts = self.days[day_no % len(self.days)][0]
            for off in starts:
                t = day_start + off
                if a < t <= b:
                    visit(t)
            t = day_start + DAY_S
            if a < t <= b:
                visit(t)
            for off, idx in self.periodic_times:
                for t in (day_start + off - DAY_S + self.periodic[idx][1], day_start + off,
                          day_start + off + self.periodic[idx][1]):
                    if a < t <= b:
                        visit(t)
            day_no += 1
            day_start += DAY_S

    def motor_parts(self, board):
        """Step rates that may run at once under this programme: the top basal rate, the
        fastest periodic bolus, the patient bolus and the single bolus. Validation keeps their
        sum within the motor, so programmed boluses are never refused for speed."""
        conc = self.conc_ug_per_ml
        top = 0
        for starts, rates in self.days:
            for r in rates:
                top = max(top, r)
        parts = [basal_steps_rate(top, conc, board)]
        worst = None
        for amount, dur in self.periodic:
            n, d = bolus_steps_rate(amount, dur, conc, board)
            if worst is None or n * worst[1] > worst[0] * d:
                worst = (n, d)
        if worst is not None:
            parts.append(worst)
        for b in (self.patient, self.single):
            if b is not None:
                parts.append(bolus_steps_rate(b[0], b[1], conc, board))
        return parts

    def daily_ug(self):
        """Mean scheduled ug/day over the cycle (for logs and summaries)."""
        n = len(self.days)
        return sum(self.day_dose_ug(d) for d in range(n)) // n


def _minutes(d, key, lo_s, hi_s, prefix, default=None):
    """A duration given in whole minutes, returned in seconds."""
    m = fields.integer(d, key, ceil_div(lo_s, 60), hi_s // 60, default, prefix)
    return None if m is None else m * 60


def _steps(day, where, board):
    """One flex day: [[start_min, ug_per_day], ...], first at minute 0, strictly increasing."""
    if not isinstance(day, (list, tuple)) or not 1 <= len(day) <= limits.MAX_DAY_STEPS:
        raise fields.Invalid(where, "needs 1.." + str(limits.MAX_DAY_STEPS) + " steps")
    starts = []
    rates = []
    for j, step in enumerate(day):
        here = where + "[" + str(j) + "]"
        if not isinstance(step, (list, tuple)) or len(step) != 2:
            raise fields.Invalid(here, "must be [start_min, ug_per_day]")
        v = {"start_min": step[0], "ug_per_day": step[1]}
        start = fields.integer(v, "start_min", 0, 1439, prefix=here + ".")
        rate = fields.integer(v, "ug_per_day", 0, board.max_ug_per_day, prefix=here + ".")
        if j == 0 and start != 0:
            raise fields.Invalid(here + ".start_min", "first step must start at minute 0")
        if j > 0 and start <= starts[-1] // 60:
            raise fields.Invalid(here + ".start_min", "not after the previous step")
        starts.append(start * 60)
        rates.append(rate)
    return tuple(starts), tuple(rates)


def _periodic(p, where, board):
    items = []
    times = []
    for i, b in enumerate(p):
        here = where + "[" + str(i) + "]."
        if not isinstance(b, dict):
            raise fields.Invalid(where + "[" + str(i) + "]", "must be a table")
        fields.only(b, ("amount_ug", "duration_min", "every_min", "first_min"), here)
        amount = fields.integer(b, "amount_ug", 1, board.max_bolus_ug, prefix=here)
        dur = _minutes(b, "duration_min", limits.MIN_BOLUS_S, limits.MAX_BOLUS_S, here)
        every = _minutes(b, "every_min", 60, DAY_S, here, DAY_S // 60)
        first = _minutes(b, "first_min", 0, DAY_S - 60, here, 0)
        if dur > every:
            raise fields.Invalid(here + "duration_min", "longer than every_min")
        if len(times) + ceil_div(DAY_S - first, every) > limits.MAX_DAY_STEPS:
            raise fields.Invalid(where, "more than " + str(limits.MAX_DAY_STEPS) + " a day")
        off = first
        while off < DAY_S:
            times.append((off, i))
            off += every
        items.append((amount, dur))
    times.sort()
    for j in range(1, len(times)):
        a_off, a_i = times[j - 1]
        if times[j][0] < a_off + items[a_i][1]:
            raise fields.Invalid(where, "periodic boluses overlap")
    if times and times[-1][0] + items[times[-1][1]][1] > DAY_S + times[0][0]:
        raise fields.Invalid(where, "periodic boluses overlap across midnight")
    return tuple(items), tuple(times)


def _prefix_sums(prog):
    """Running totals of the basal schedule (ug*s/day): per step within each day, and per
    day within the cycle (the last entry is the whole cycle)."""
    steps = []
    days = [0]
    for starts, rates in prog.days:
        run = [0]
        for i in range(len(starts) - 1):
            run.append(run[-1] + rates[i] * (starts[i + 1] - starts[i]))
        steps.append(tuple(run))
        days.append(days[-1] + run[-1] + rates[-1] * (DAY_S - starts[-1]))
    prog._step_prefix = tuple(steps)
    prog._prefix = tuple(days)
    run = [0]
    for off, idx in prog.periodic_times:
        run.append(run[-1] + prog.periodic[idx][0] * UG_UNITS)
    prog._periodic_prefix = tuple(run)


def _window_max_ug(prog):
    """Largest scheduled dose (basal + periodic) in any 24 h window, in ug, rounded up.

    The windowed dose is piecewise linear in the window's start, so its maximum is where the
    start or the end meets a breakpoint: try every breakpoint of one cycle (and a day on) as
    either. Exact integers; parse time only.
    """
    cycle_s = len(prog.days) * DAY_S
    lcm = 1
    for amount, dur in prog.periodic:
        lcm = lcm * dur // gcd(lcm, dur)
    best = [0]

    def visit(b):
        for s in (b, b - DAY_S):
            best[0] = max(best[0], prog.scheduled_units(s, s + DAY_S, 0, lcm))
    prog.each_breakpoint(-1, cycle_s + DAY_S, 0, visit)
    return ceil_div(best[0], UG_UNITS * lcm)


def _patient(p, where, board):
    fields.only(p, _PATIENT, where)
    amount = fields.integer(p, "amount_ug", 1, board.max_bolus_ug, prefix=where)
    dur = _minutes(p, "duration_min", limits.MIN_BOLUS_S, limits.MAX_BOLUS_S, where)
    lockout = _minutes(p, "lockout_min", limits.MIN_LOCKOUT_S, DAY_S, where)
    count = fields.integer(p, "max_per_24h", 1, limits.MAX_PATIENT_PER_24H, prefix=where)
    per_hour = fields.integer(p, "max_ug_per_hour", 1, board.max_ug_per_day, prefix=where)
    if lockout < dur:
        raise fields.Invalid(where + "lockout_min", "shorter than duration_min")
    if per_hour < amount:
        raise fields.Invalid(where + "max_ug_per_hour", "below amount_ug: no bolus could run")
    return amount, dur, lockout, count, per_hour


def _flex_days(d, board):
    flex = fields.table(d, "flex")
    fields.only(flex, ("cycle_days", "days"), "flex.")
    n = fields.integer(flex, "cycle_days", 1, limits.MAX_CYCLE_DAYS, prefix="flex.")
    days = fields.array(flex, "days", "flex.", n, n)
    return tuple(_steps(days[i], "flex.days[" + str(i) + "]", board) for i in range(n))


def bolus_steps_rate(amount_ug, duration_s, conc, board):
    """(num, den) motor steps per second of amount_ug over duration_s."""
    return amount_ug * 1000000, conc * board.nl_per_step * duration_s


def basal_steps_rate(ug_per_day, conc, board):
    """(num, den) motor steps per second of a basal dose rate (1e6 nL/mL / 86400 s = 625/54)."""
    return ug_per_day * 625, 54 * conc * board.nl_per_step


def within_motor(parts, board):
    """True if the sum of (num, den) step rates stays within the motor's top speed."""
    total_n, total_d = 0, 1
    for n, d in parts:
        total_n, total_d = total_n * d + n * total_d, total_d * d
    return total_n <= board.max_steps_per_s * total_d


def _check_motor(prog, board):
    if not within_motor(prog.motor_parts(board), board):
        raise fields.Invalid("concentration_ug_per_ml",
                             "basal and boluses together exceed the motor's top speed")


def _parse(d, board):
    fields.only(d, _TOP)
    prog = Programme()
    mode = d.get("mode")
    if mode not in MODE_NAMES:
        raise fields.Invalid("mode", "must be one of " + ", ".join(MODE_NAMES))
    prog.mode = MODE_NAMES.index(mode)
    prog.conc_ug_per_ml = fields.integer(d, "concentration_ug_per_ml",
                                         limits.MIN_CONC_UG_PER_ML, board.max_conc_ug_per_ml)
    prog.cap_ug_24h = fields.integer(d, "max_ug_per_24h", 1, board.max_ug_per_day)
    prog.low_nl = 1000 * fields.integer(d, "low_reservoir_ul", limits.MIN_LOW_NL // 1000,
                                        limits.MAX_LOW_NL // 1000, limits.DEFAULT_LOW_NL // 1000)
    prog.empty_nl = 1000 * fields.integer(d, "empty_reservoir_ul", limits.MIN_EMPTY_NL // 1000,
                                          limits.MAX_LOW_NL // 1000,
                                          limits.DEFAULT_EMPTY_NL // 1000)
    if prog.empty_nl >= prog.low_nl:
        raise fields.Invalid("empty_reservoir_ul", "must be below low_reservoir_ul")
    if prog.low_nl >= board.reservoir_nl:
        raise fields.Invalid("low_reservoir_ul", "not below the reservoir size")
    prog.catheter_nl = 1000 * fields.integer(d, "catheter_volume_ul", 0,
                                             limits.MAX_CATHETER_NL // 1000, 0)
    prog.refill_tolerance_nl = 1000 * fields.integer(
        d, "refill_tolerance_ul", 0, board.reservoir_nl // 1000,
        limits.DEFAULT_REFILL_TOLERANCE_NL // 1000)

    flat = ((0,), (0,))
    if prog.mode == MODE_CONTINUOUS:
        prog.days = (((0,), (fields.integer(d, "rate_ug_per_day", 1, board.max_ug_per_day),)),)
    elif prog.mode == MODE_FLEX:
        prog.days = _flex_days(d, board)
    else:
        prog.days = (flat,)
    for key, allowed in (("rate_ug_per_day", MODE_CONTINUOUS), ("flex", MODE_FLEX),
                         ("single_bolus", MODE_BOLUS), ("periodic_boluses", MODE_FLEX)):
        if key in d and prog.mode != allowed:
            raise fields.Invalid(key, "not allowed in mode " + mode)
    if prog.mode == MODE_FLEX:
        pb = fields.array(d, "periodic_boluses", "", 0, limits.MAX_PERIODIC)
        prog.periodic, prog.periodic_times = _periodic(pb, "periodic_boluses", board)
    if prog.mode == MODE_BOLUS:
        s = fields.table(d, "single_bolus")
        fields.only(s, ("amount_ug", "duration_min"), "single_bolus.")
        prog.single = (
            fields.integer(s, "amount_ug", 1, board.max_bolus_ug, prefix="single_bolus."),
            _minutes(s, "duration_min", limits.MIN_BOLUS_S, limits.MAX_BOLUS_S,
                     "single_bolus."))
    p = fields.table(d, "patient_bolus", required=False)
    if p is not None:
        if prog.mode in (MODE_STOPPED, MODE_BOLUS):
            raise fields.Invalid("patient_bolus", "not allowed in mode " + mode)
        prog.patient = _patient(p, "patient_bolus.", board)

    _prefix_sums(prog)
    prog.sched_max_ug_24h = _window_max_ug(prog)
    if prog.single is not None:
        prog.sched_max_ug_24h = prog.single[0]
    if prog.sched_max_ug_24h > prog.cap_ug_24h:
        raise fields.Invalid("max_ug_per_24h", "below the scheduled dose of " +
                             str(prog.sched_max_ug_24h) + " ug in a 24 h window")
    # The motor delivers within one step of the exact schedule, so a patient bolus needs that
    # step of room too, or it would be refused at some times of day.
    step_pg = board.nl_per_step * prog.conc_ug_per_ml
    if prog.patient is not None and \
            (prog.sched_max_ug_24h + prog.patient[0]) * 1000000 + step_pg > \
            prog.cap_ug_24h * 1000000:
        raise fields.Invalid("patient_bolus.amount_ug",
                             "no patient bolus could fit under max_ug_per_24h")
    _check_motor(prog, board)
    return prog


def parse_programme(d, board):
    """(Programme, None) or (None, (field, reason)); a bad programme is rejected whole."""
    if not isinstance(d, dict):
        return None, ("", "programme must be a table")
    try:
        return _parse(d, board), None
    except fields.Invalid as e:
        return None, (e.field, e.reason)
