"""Property-based tests of the dosing core's safety requirements (SR-1 .. SR-8).

Every test drives the unchanged core (pump.core.Pump) with the simulator's virtual motor and
reservoir the way the board layer must: advance() at every next_due_s (and at any other instant an
input arrives), reload the motor with pump.plan after every advance and every command. The
expected values are computed here, independently of the core, with fractions.Fraction from the
programme dict itself (not from the parsed Programme object).
"""
import copy
from fractions import Fraction

from hypothesis import (HealthCheck, Phase, assume, currently_in_test_context, event, given,
                        note, settings, target)
from hypothesis import strategies as st

from pump.board import parse_board
from pump.codes import (OK, A_EMPTY_RESERVOIR, A_LOW_RESERVOIR, BOLUS_CLINICIAN, BOLUS_PATIENT,
                        BOLUS_PERIODIC, E_ALARM, E_BOLUS_REFUSED, E_BOLUS_START,
                        E_PROGRAMME_REJECTED, R_COUNT_24H, R_LOCKOUT, R_UG_PER_HOUR)
from pump.core import Pump
from pump.programme import parse_programme
from pumpsim.engine import Simulation
from pumpsim.motor import VirtualMotor, VirtualReservoir

DAY = 86400
HOUR = 3600
MAX_ACTIVE = 4          # pump.limits.MAX_ACTIVE_BOLUSES, restated on purpose

# No "explain" phase: it reruns a failing example thousands of times to annotate it.
SETTINGS = dict(deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
                phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.target,
                        Phase.shrink))


def ceil_div(a, b):
    return -((-a) // b)


def _stat(label):
    """hypothesis.event() (shown by --hypothesis-show-statistics), also callable from the plain
    regression tests that reuse a property's body."""
    if currently_in_test_context():
        event(label)


def _note(text):
    if currently_in_test_context():
        note(text)


# ---------------------------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------------------------

def make_board(nl_per_step, max_steps_per_s=20000, reservoir_nl=100_000_000,
               tubing_volume_nl=100_000):
    board, err = parse_board({"name": "prop", "nl_per_step": nl_per_step,
                              "max_steps_per_s": max_steps_per_s, "reservoir_nl": reservoir_nl,
                              "tubing_volume_nl": tubing_volume_nl})
    assert err is None, err
    return board


def boards(reservoir_nl=st.just(100_000_000)):
    return st.builds(make_board, st.integers(1, 100), st.integers(2000, 20000), reservoir_nl,
                     st.integers(0, 1_000_000))


def _min_bolus_min(amount, conc, board):
    """Shortest whole-minute duration keeping a bolus within a quarter of the motor's speed."""
    return max(1, ceil_div(amount * 10**6 * 4,
                           conc * board.nl_per_step * board.max_steps_per_s * 60))


@st.composite
def programme_dicts(draw, board, modes=("continuous", "flex"), max_ml_per_day=None,
                    patient=None, periodic=True, tight_cap=True, valid_only=True):
    """A programme dict that parses on `board`. max_ml_per_day bounds max_ug_per_24h (and so,
    by SR-4, any 24 h of delivery) in volume, so a big reservoir is never emptied. patient:
    None = maybe, True = always, False = never. valid_only=False: no assume(); the odd dict
    that does not parse is returned as it is (the stateful test hands those to the pump too)."""
    conc = draw(st.integers(10, 4000))
    budget = 6000 if max_ml_per_day is None else min(6000, conc * max_ml_per_day)
    mode = draw(st.sampled_from(modes))
    d = {"mode": mode, "concentration_ug_per_ml": conc}
    res_ul = board.reservoir_nl // 1000
    low = 2000
    if draw(st.booleans()):
        low = draw(st.integers(1000, min(10000, res_ul - 1)))
        d["low_reservoir_ul"] = low
    if low <= 1000 or draw(st.booleans()):
        # At least 100 uL (limits.MIN_EMPTY_NL); below that is left to the SR-8 mutations.
        d["empty_reservoir_ul"] = draw(st.integers(100, low - 1))
    if draw(st.booleans()):
        d["catheter_volume_ul"] = draw(st.integers(0, 2000))
    if draw(st.booleans()):
        d["refill_tolerance_ul"] = draw(st.integers(0, res_ul))
    if mode == "continuous":
        d["rate_ug_per_day"] = draw(st.integers(1, max(1, budget // 2)))
    elif mode == "flex":
        top = draw(st.integers(0, budget // 2))
        cycle = draw(st.integers(1, 7))
        days = []
        for _ in range(cycle):
            starts = sorted(draw(st.lists(st.integers(1, 1439), unique=True, max_size=3)))
            days.append([[s, draw(st.integers(0, top))] for s in [0] + starts])
        d["flex"] = {"cycle_days": cycle, "days": days}
        if periodic:
            items = []
            for _ in range(draw(st.sampled_from((0, 1, 1, 2)))):
                every = draw(st.one_of(st.just(1440), st.integers(60, 1440)))
                amount = draw(st.integers(1, max(1, budget * every // (1440 * 6))))
                dmin = _min_bolus_min(amount, conc, board)
                dur = draw(st.integers(dmin, dmin + 30))
                item = {"amount_ug": amount, "duration_min": dur,
                        "every_min": max(every, dur)}
                if item["every_min"] == 1440 and draw(st.booleans()):
                    del item["every_min"]          # the default: once a day
                if draw(st.booleans()):
                    item["first_min"] = draw(st.integers(0, 1439))
                items.append(item)
            if items:
                d["periodic_boluses"] = items
    elif mode == "bolus":
        amount = draw(st.integers(1, max(1, budget // 4)))
        dmin = _min_bolus_min(amount, conc, board)
        d["single_bolus"] = {"amount_ug": amount,
                             "duration_min": draw(st.integers(dmin, dmin + 60))}
    with_patient = mode in ("continuous", "flex") and (
        draw(st.booleans()) if patient is None else patient)
    amount = 0
    if with_patient:
        amount = draw(st.integers(1, max(1, budget // 12)))
        dmin = _min_bolus_min(amount, conc, board)
        dur = draw(st.integers(dmin, dmin + 30))
        lockout = draw(st.integers(max(15, dur), max(15, dur) + 240))
        d["patient_bolus"] = {
            "amount_ug": amount, "duration_min": dur, "lockout_min": lockout,
            "max_per_24h": draw(st.one_of(st.integers(1, 6), st.integers(1, 24))),
            "max_ug_per_hour": draw(st.integers(amount, 3 * amount)),
        }
    # The cap: the scheduled 24 h maximum (as the core reckons it) plus room for a few patient
    # boluses; tight so that the 24 h cap binds. SR-4 checks the result independently.
    d["max_ug_per_24h"] = 6000
    prog, err = parse_programme(d, board)
    if err is not None and not valid_only:
        d["max_ug_per_24h"] = draw(st.integers(1, 6000))
        return d
    assume(err is None)
    if tight_cap:
        cap = prog.sched_max_ug_24h + amount * draw(st.integers(1, 4)) + draw(
            st.integers(0, max(1, amount)))
    else:
        cap = draw(st.integers(prog.sched_max_ug_24h + amount, 6000))
    cap = min(max(cap, 1), 6000)
    d["max_ug_per_24h"] = cap
    if not valid_only:
        return d
    assume(cap <= budget)
    prog, err = parse_programme(d, board)
    assume(err is None)
    return d


@st.composite
def press_times(draw, end, max_clusters=8, min_clusters=1):
    """Patient presses: clusters of presses close together (lockout, per-hour and count limits
    all bind) around random instants in [0, end]."""
    out = []
    for base in draw(st.lists(st.integers(0, end), min_size=min_clusters,
                              max_size=max_clusters)):
        out.append(base)
        for off in draw(st.lists(st.integers(0, 3 * HOUR), max_size=4)):
            if base + off <= end:
                out.append(base + off)
    return sorted(out)


def probe_times(end, max_size=40):
    """Instants at which to look at the motor, most of them not whole seconds."""
    return st.lists(st.builds(lambda k, n: Fraction(k, n) * end,
                              st.integers(0, 10**6), st.just(10**6)), max_size=max_size)


# ---------------------------------------------------------------------------------------------
# The oracle: what the programme says, computed from the dict with Fractions
# ---------------------------------------------------------------------------------------------

class Oracle:
    """Exact programmed delivery (in ug and in motor steps) of a programme installed at t = 0 on
    an always-delivering pump, plus the boluses that were actually started."""

    def __init__(self, d, board):
        self.conc = d["concentration_ug_per_ml"]
        self.n = board.nl_per_step
        if d["mode"] == "continuous":
            self.days = [((0,), (d["rate_ug_per_day"],))]
        elif d["mode"] == "flex":
            self.days = [(tuple(s * 60 for s, r in day), tuple(r for s, r in day))
                         for day in d["flex"]["days"]]
        else:
            self.days = [((0,), (0,))]
        self.day_total = []       # ug*s/day delivered by basal in each cycle day
        for starts, rates in self.days:
            ends = starts[1:] + (DAY,)
            self.day_total.append(sum(r * (e - s) for s, e, r in zip(starts, ends, rates)))
        self.cycle_total = sum(self.day_total)
        self.periodic = {}        # offset in day (s) -> (amount ug, duration s)
        for item in d.get("periodic_boluses", []):
            every = item.get("every_min", 1440) * 60
            off = item.get("first_min", 0) * 60
            while off < DAY:
                assert off not in self.periodic
                self.periodic[off] = (item["amount_ug"], item["duration_min"] * 60)
                off += every
        pb = d.get("patient_bolus")
        self.patient = None if pb is None else (pb["amount_ug"], pb["duration_min"] * 60)
        self.boluses = []         # (start s, duration s, amount ug, kind)

    def basal_ug_s(self, t):
        """Integral of the basal rate over [0, t], in ug*s/day (exact; t may be a Fraction)."""
        if t <= 0:
            return 0
        k = int(t // DAY)
        cycle = len(self.days)
        full, rest = divmod(k, cycle)
        total = full * self.cycle_total + sum(self.day_total[:rest])
        starts, rates = self.days[k % cycle]
        sec = t - k * DAY
        ends = starts[1:] + (DAY,)
        for s, e, r in zip(starts, ends, rates):
            if sec > s:
                total += r * (min(sec, e) - s)
        return total

    def basal_breakpoints(self, end):
        pts = set()
        cycle = len(self.days)
        for k in range(0, int(end // DAY) + 2):
            for s in self.days[k % cycle][0]:
                pts.add(k * DAY + s)
        return pts

    def bolus_ug(self, t):
        total = Fraction(0)
        for start, dur, amount, kind in self.boluses:
            if t > start:
                total += Fraction(amount) * min(t - start, dur) / dur
        return total

    def ug(self, t):
        """Programmed drug over [0, t] in ug."""
        return Fraction(self.basal_ug_s(t), DAY) + self.bolus_ug(t)

    def steps(self, t):
        """Programmed volume over [0, t] in motor steps: ug * 1e6 / (conc * nL/step)."""
        return self.ug(t) * 10**6 / (self.conc * self.n)


# ---------------------------------------------------------------------------------------------
# The rig: Pump + VirtualMotor + VirtualReservoir driven like Simulation._step_to
# ---------------------------------------------------------------------------------------------

class Rig:
    def __init__(self, board, programme, fill_nl=None, check=None):
        self.board = board
        self.pump = Pump(board, 0, 512)
        self.motor = VirtualMotor()
        fill = board.reservoir_nl if fill_nl is None else fill_nl
        self.fill = fill
        self.res = VirtualReservoir(fill)
        self.pending = 0          # steps issued at probes, not yet reported to the pump
        self.plans = []           # (t0, rate, phase, steps, motor total at load)
        self.events = []          # every log record, in order
        self.granted = []         # (t, kind, amount ug, duration s) of granted requests
        self.check = check
        self._seq = 0
        assert self.pump.refill(0, 0, 0, fill) == OK
        self._drain()
        if programme is not None:
            assert self.pump.program(0, programme) is None
        self._load()

    def _drain(self):
        log = self.pump.log
        recs = log.since(self._seq)
        assert not recs or recs[0][0] == self._seq, "event log overwrote unread records"
        self.events.extend(recs)
        self._seq = log.seq

    def _load(self):
        p = self.pump.plan
        self.motor.load(p)
        self.plans.append((p.t0_s, Fraction(p.rate_num, p.rate_den),
                           Fraction(p.phase_num, p.phase_den), p.steps,
                           self.motor.total_steps))
        self._drain()

    def probe(self, u):
        """Look at the motor at instant u (between two advances), without telling the pump."""
        s = self.motor.advance_to(u)
        self.res.draw(s, self.board.nl_per_step)
        self.pending += s
        if self.check:
            self.check(self, u, False)
        return s

    def advance(self, t):
        s = self.motor.advance_to(t)
        self.res.draw(s, self.board.nl_per_step)
        self.pump.advance(t, self.pending + s)
        self.pending = 0
        self._load()
        if self.check:
            self.check(self, t, True)

    def run_to(self, t, probes=()):
        """Advance to t, stopping at every next_due_s; probe the motor at the given instants
        (sorted) that fall strictly between two advances."""
        pump = self.pump
        i = 0
        while i < len(probes) and probes[i] <= pump.now_s:
            i += 1
        while pump.now_s < t:
            nd = pump.next_due_s
            nxt = t if nd is None or nd > t else nd
            assert nxt > pump.now_s
            while i < len(probes) and probes[i] < nxt:
                self.probe(probes[i])
                i += 1
            self.advance(nxt)
        return probes[i:]

    def cmd(self, fn, *args, grant=None):
        """A command at the current instant; grant = (kind, ug, s) is recorded if it is OK."""
        r = fn(self.pump.now_s, *args)
        if r == OK and grant is not None:
            self.granted.append((self.pump.now_s,) + grant)
        self._load()
        if self.check:
            self.check(self, self.pump.now_s, True)
        return r

    def starts(self, kind=None):
        return [(t, k, a) for seq, t, code, k, a in self.events
                if code == E_BOLUS_START and (kind is None or k == kind)]

    def step_instant(self, j):
        """The exact instant motor step j (1-based, cumulative) was issued, from the plans."""
        for idx, (t0, rate, phase, steps, base) in enumerate(self.plans):
            nxt_base = self.plans[idx + 1][4] if idx + 1 < len(self.plans) else \
                self.motor.total_steps
            if base < j <= nxt_base:
                return t0 + (j - base - phase) / rate
        return None


def play(rig, end, presses=(), boluses=(), ticks=(), probes=()):
    """Run a scripted scenario: patient presses, clinician bolus requests (t, ug, min), extra
    advance() calls at arbitrary whole seconds, and motor probes; then on to end."""
    script = sorted([(t, 0, None) for t in presses] + [(t, 1, (a, m)) for t, a, m in boluses] +
                    [(t, 2, None) for t in ticks])
    probes = sorted(probes)
    results = []
    for t, what, arg in script:
        probes = rig.run_to(t, probes)
        if what == 0:
            r = rig.cmd(rig.pump.request_patient_bolus)
            results.append((t, BOLUS_PATIENT, r))
        elif what == 1:
            amount, minutes = arg
            r = rig.cmd(rig.pump.request_bolus, amount, minutes * 60,
                        grant=(BOLUS_CLINICIAN, amount, minutes * 60))
            results.append((t, BOLUS_CLINICIAN, r))
        if what != 2:
            check_refusals_logged(rig, results)
    rig.run_to(end, probes)
    return results


def check_refusals_logged(rig, results):
    """Every request got OK and a start, or a reason code and a refusal record saying so."""
    if not results:
        return
    t, kind, r = results[-1]
    last = rig.events[-1] if rig.events else None
    if r == OK:
        assert any(e[1] == t and e[2] == E_BOLUS_START and e[3] == kind
                   for e in rig.events[-3:]), "granted request without a start event"
    else:
        assert isinstance(r, int) and r > OK, r
        assert last is not None and last[1:] == (t, E_BOLUS_REFUSED, kind, r), last


def oracle_boluses(rig, oracle):
    return started_boluses(rig.events, rig.granted, oracle)


def started_boluses(events, granted, oracle):
    """The boluses that started, (start s, duration s, ug, kind), with amounts and durations
    from the programme or the request (not from the core), matched to the log's E_BOLUS_START
    records. granted: (t, kind, ug, s) of the granted clinician requests, in order."""
    granted = list(granted)
    out = []
    starts = [(t, k, a) for seq, t, code, k, a in events if code == E_BOLUS_START]
    for t, kind, dose in starts:
        if kind == BOLUS_PERIODIC:
            off = t % DAY
            assert off in oracle.periodic, ("periodic bolus off schedule", t)
            amount, dur = oracle.periodic[off]
        elif kind == BOLUS_PATIENT:
            assert oracle.patient is not None
            amount, dur = oracle.patient
        elif kind == BOLUS_CLINICIAN:
            gt, gk, amount, dur = granted.pop(0)
            assert gt == t
        else:
            raise AssertionError("unexpected bolus kind %d" % kind)
        assert dose == amount, (t, kind, dose, amount)
        out.append((t, dur, amount, kind))
    assert not granted
    return out


# ---------------------------------------------------------------------------------------------
# SR-1 exact delivery
# ---------------------------------------------------------------------------------------------

@st.composite
def delivery_scenarios(draw, day_choices=(1, 2, 3, 3, 7, 14)):
    board = draw(boards())
    days = draw(st.sampled_from(day_choices))
    # 100 mL reservoir, never more than 80 mL in days + 1 days: never reaches empty.
    d = draw(programme_dicts(board, max_ml_per_day=80 // (days + 1),
                             patient=draw(st.sampled_from((True, True, False)))))
    end = days * DAY
    presses = draw(press_times(end)) if "patient_bolus" in d else []
    boluses = draw(st.lists(st.tuples(st.integers(0, end),
                                      st.one_of(st.integers(1, 20), st.integers(1, 300)),
                                      st.integers(1, 600)), max_size=6))
    ticks = draw(st.lists(st.integers(0, end), max_size=10))
    probes = draw(probe_times(end))
    return board, d, end, presses, boluses, ticks, probes


@settings(max_examples=200, **SETTINGS)
@given(delivery_scenarios())
def test_sr1_exact_delivery(scenario):
    """SR-1 exact delivery: at every instant (every advance, and random instants inside motion
    segments) the cumulative motor steps differ from the exact integral of the programme
    (basal + the boluses actually started) by at most one step; in fact they are its floor."""
    board, d, end, presses, boluses, ticks, probes = scenario
    oracle = Oracle(d, board)
    worst = [Fraction(0)]

    def check(rig, u, advanced):
        assert rig.pump.delivering(), "delivery stopped: the oracle assumes it never does"
        oracle.boluses = oracle_boluses(rig, oracle)
        v = oracle.steps(u)
        got = rig.motor.total_steps
        assert abs(v - got) <= 1, ("SR-1", u, float(v), got)
        # The design's Bresenham property: steps due are floor(V(t)).
        assert got <= v < got + 1, ("floor", u, float(v), got)
        worst[0] = max(worst[0], abs(v - got))
        if advanced:
            i = rig.pump.integral
            assert Fraction(i.whole * i.den + i.num, i.den) == v, ("core integral", u)

    rig = Rig(board, d, check=check)
    check(rig, 0, True)
    play(rig, end, presses, boluses, ticks, probes)
    _note("worst error %s steps" % float(worst[0]))
    kinds = sorted({k for t, k, a in rig.starts()})
    _stat("bolus kinds started: %s" % kinds)
    _stat("motor plans: %s" % ("<10" if len(rig.plans) < 10 else "<100" if len(rig.plans) < 100
                               else ">=100"))
    # The periodic boluses are the programmed ones: each scheduled start is logged, unless
    # MAX_ACTIVE_BOLUSES were already running then.
    bol = oracle_boluses(rig, oracle)
    logged = {t for t, dur, a, k in bol if k == BOLUS_PERIODIC}
    for k in range(0, end // DAY + 1):
        for off in oracle.periodic:
            t = k * DAY + off
            if t <= end and t not in logged:
                active = sum(1 for s, dur, a, kd in bol if s < t < s + dur)
                assert active >= MAX_ACTIVE, ("scheduled periodic bolus not given", t)


@settings(max_examples=50, **SETTINGS)
@given(delivery_scenarios(day_choices=(1, 2)))
def test_sr1_simulation_engine_agrees(scenario):
    """SR-1 exact delivery, through pumpsim.engine.Simulation: its own error measure stays
    within one step, and its motor ends on floor(exact integral) of the programme."""
    board, d, end, presses, boluses, ticks, probes = scenario
    # Clinician requests with equal (t, amount) but different durations are ambiguous here.
    assume(len({(t, a) for t, a, m in boluses}) == len(boluses))
    events = [{"action": "press", "at": t} for t in presses] + [
        {"action": "bolus", "at": t, "amount_ug": a, "duration_min": m} for t, a, m in boluses]
    sim = Simulation(board, d, events, log_size=4096)
    summary = sim.run(end)
    assert summary["max_abs_error_steps"] <= 1
    assert sim.pump.log.seq <= 4096
    oracle = Oracle(d, board)
    events = sim.pump.log.since(0)
    granted = []
    for seq, t, code, k, a in events:
        if code == E_BOLUS_START and k == BOLUS_CLINICIAN:
            minutes = next(m for t2, a2, m in boluses if t2 == t and a2 == a)
            granted.append((t, k, a, minutes * 60))
    oracle.boluses = started_boluses(events, granted, oracle)
    v = oracle.steps(end)
    assert summary["steps"] == v.numerator // v.denominator


# ---------------------------------------------------------------------------------------------
# SR-2 / SR-3 patient bolus limits
# ---------------------------------------------------------------------------------------------

@st.composite
def press_scenarios(draw):
    board = draw(boards())
    d = draw(programme_dicts(board, max_ml_per_day=20, patient=True))
    end = 2 * DAY
    presses = draw(press_times(end, max_clusters=12))
    return board, d, end, presses


def patient_starts(rig):
    return [t for t, k, a in rig.starts(BOLUS_PATIENT)]


@settings(max_examples=150, **SETTINGS)
@given(press_scenarios())
def test_sr2_no_patient_bolus_inside_lockout(scenario):
    """SR-2 no patient bolus starts inside the lockout, measured start to start, whatever the
    press times; a press refused for lockout really was inside it."""
    board, d, end, presses = scenario
    lockout = d["patient_bolus"]["lockout_min"] * 60
    rig = Rig(board, d)
    results = play(rig, end, presses)
    starts = patient_starts(rig)
    assert starts == [t for t, k, r in results if r == OK]
    for a, b in zip(starts, starts[1:]):
        assert b - a >= lockout, ("SR-2", a, b, lockout)
    for t, k, r in results:
        if r == R_LOCKOUT:
            before = [s for s in starts if s <= t]
            assert before and t - before[-1] < lockout


@settings(max_examples=150, **SETTINGS)
@given(press_scenarios())
def test_sr3_patient_count_and_hourly_caps(scenario):
    """SR-3 never more than max_per_24h patient boluses start in any rolling 24 h window, and
    never more than max_ug_per_hour patient ug start in any rolling 60 min window (all windows
    checked: the worst window starts at a bolus start). Count and hourly refusals are truthful."""
    board, d, end, presses = scenario
    pb = d["patient_bolus"]
    amount, count, per_hour = pb["amount_ug"], pb["max_per_24h"], pb["max_ug_per_hour"]
    rig = Rig(board, d)
    results = play(rig, end, presses)
    starts = patient_starts(rig)
    _stat("refusal reasons: %s" % sorted({r for t, k, r in results if r}))
    for s in starts:
        in_day = [x for x in starts if s <= x < s + DAY]
        in_hour = [x for x in starts if s <= x < s + HOUR]
        assert len(in_day) <= count, ("SR-3 count", s, in_day, count)
        assert len(in_hour) * amount <= per_hour, ("SR-3 ug/h", s, in_hour, per_hour)
    for t, k, r in results:
        before = [s for s in starts if s <= t]
        if r == R_COUNT_24H:
            assert len([s for s in before if s > t - DAY]) >= count
        if r == R_UG_PER_HOUR:
            assert len([s for s in before if s > t - HOUR]) * amount + amount > per_hour


# ---------------------------------------------------------------------------------------------
# SR-4 rolling 24 h dose cap
# ---------------------------------------------------------------------------------------------

@st.composite
def cap_scenarios(draw):
    board = draw(boards())
    d = draw(programme_dicts(board, max_ml_per_day=20))
    span = draw(st.integers(1, 2)) * DAY
    presses = draw(press_times(span, max_clusters=12)) if "patient_bolus" in d else []
    boluses = draw(st.lists(st.tuples(st.integers(0, span),
                                      st.one_of(st.integers(1, 50), st.integers(1, 1500)),
                                      st.integers(1, 1440)), max_size=8))
    return board, d, span, presses, boluses


@settings(max_examples=200, **SETTINGS)
@given(cap_scenarios())
def test_sr4_rolling_24h_cap(scenario):
    """SR-4 the drug programmed in every rolling 24 h window (basal + periodic + patient +
    clinician boluses, each spread over its duration) never exceeds max_ug_per_24h. Requests
    are made in [0, span]; the run goes on a day more so every window is complete; the
    maximum over windows is found exactly at the breakpoints of the cumulative dose."""
    check_sr4(scenario)


def test_sr4_bolus_before_a_heavier_day():
    """SR-4, a case the property test found, pinned as a regression test.

    Found on 9902a7a (it came with 4fd68ba, the delivered-dose ledger; fixed in 6fe93c6):
    Pump._window_peak() tried only the 24 h windows holding `now`, so a bolus was granted when
    a window starting *after* now held the rest of the bolus plus a heavier part of the
    schedule. A 2-day cycle gives 200 ug on day 1 from 00:00 to 01:00 (scheduled 24 h maximum
    200 = the cap); a clinician bolus of 200 ug over 24 h at t = 0 was granted, and the window
    [01:00 day 0, 01:00 day 1) then held 391.7 ug against the cap of 200."""
    d = {"mode": "flex", "concentration_ug_per_ml": 500, "max_ug_per_24h": 200,
         "flex": {"cycle_days": 2, "days": [[[0, 0]], [[0, 4800], [60, 0]]]}}
    check_sr4((make_board(20, 3200, 40_000_000), d, DAY, [], [(0, 200, 1440)]))


def check_sr4(scenario):
    board, d, span, presses, boluses = scenario
    cap = d["max_ug_per_24h"]
    end = span + DAY
    rig = Rig(board, d)
    play(rig, end, presses, boluses)
    oracle = Oracle(d, board)
    oracle.boluses = oracle_boluses(rig, oracle)
    pts = oracle.basal_breakpoints(end) | {0}
    for s, dur, a, k in oracle.boluses:
        pts |= {s, s + dur}
    cands = {p for p in pts} | {p - DAY for p in pts}
    worst = Fraction(0)
    for s in sorted(cands):
        if -DAY <= s and s + DAY <= end:
            g = oracle.ug(s + DAY) - oracle.ug(s)
            worst = max(worst, g)
            assert g <= cap, ("SR-4", s, float(g), cap)
    _note("worst 24 h window %s ug of cap %d" % (float(worst), cap))
    if currently_in_test_context():
        target(float(worst / cap), label="worst 24 h window / cap")
    _stat("worst window / cap: %s" % ("> 95%" if worst * 20 > cap * 19 else
                                      "> 75%" if worst * 4 > cap * 3 else "<= 75%"))
    refused = sorted({b for seq, t, code, a, b in rig.events if code == E_BOLUS_REFUSED})
    _stat("refusal reasons: %s" % refused)


# ---------------------------------------------------------------------------------------------
# SR-5 / SR-6 / SR-7 reservoir
# ---------------------------------------------------------------------------------------------

@st.composite
def reservoir_scenarios(draw):
    board = draw(boards(reservoir_nl=st.integers(3_000_000, 100_000_000)))
    d = draw(programme_dicts(board, tight_cap=False))
    prog, err = parse_programme(d, board)
    conc = d["concentration_ug_per_ml"]
    # A fill that runs out in a few days of the programme's mean basal (or anything small).
    day_nl = prog.daily_ug() * 10**6 // conc
    empty = prog.empty_nl
    extra = draw(st.integers(0, max(3 * day_nl, 2_000_000)))
    fill = min(board.reservoir_nl, draw(st.integers(0, empty + 1000)) if draw(
        st.integers(0, 9)) == 0 else empty + extra)
    presses = draw(press_times(8 * DAY)) if "patient_bolus" in d else []
    probes = draw(probe_times(8 * DAY))
    return board, d, fill, presses, probes


@settings(max_examples=200, **SETTINGS)
@given(reservoir_scenarios())
def test_sr5_sr6_sr7_reservoir(scenario):
    """SR-5 the reservoir estimate is never negative and never above the true reservoir.
    SR-6 delivery stops at empty: no step once the estimate is at or below the empty threshold
    (at most min(ceil((fill - empty)/n), fill // n) steps ever), the EMPTY alarm is raised by the
    whole second after the last step, and a continuous programme does reach it.
    SR-7 the LOW alarm is raised no later than the exact instant of the step that takes the
    reservoir to or below the low threshold."""
    board, d, fill, presses, probes = scenario
    n = board.nl_per_step
    low = d.get("low_reservoir_ul", 2000) * 1000         # documented defaults: 2 mL, 1 mL
    empty = d.get("empty_reservoir_ul", 1000) * 1000
    s_max = 0 if fill <= empty else min(ceil_div(fill - empty, n), fill // n)
    state = {"at_empty": False}

    def check(rig, u, advanced):
        pump = rig.pump
        total = rig.motor.total_steps
        assert total <= s_max, ("SR-6 step past empty", u, total, s_max)
        if state["at_empty"]:
            assert total == state["steps_at_empty"], ("SR-6 step after empty", u)
        if advanced:
            assert 0 <= pump.reservoir_nl <= rig.res.volume_nl, (
                "SR-5", u, pump.reservoir_nl, rig.res.volume_nl)
            if pump.reservoir_nl <= empty and not state["at_empty"]:
                state["at_empty"] = True
                state["steps_at_empty"] = total
            if total == s_max:
                assert A_EMPTY_RESERVOIR in pump.alarms.table, ("SR-6 no EMPTY alarm", u)
            if A_EMPTY_RESERVOIR in pump.alarms.table:
                assert pump.plan.steps == 0 and not pump.delivering()

    rig = Rig(board, d, fill_nl=fill, check=check)
    horizon = 8 * DAY
    play(rig, horizon, [t for t in presses if t <= horizon], probes=probes)
    total = rig.motor.total_steps
    alarms = {}
    for seq, t, code, a, b in rig.events:
        if code == E_ALARM and a not in alarms:
            alarms[a] = t
    _stat("alarms raised: %s" % sorted(alarms))
    _stat("reached empty: %s" % (total == s_max))
    # SR-6: when the last possible step was given, EMPTY came by the next whole second.
    if total == s_max:
        t_last = rig.step_instant(s_max) if s_max else Fraction(0)
        assert A_EMPTY_RESERVOIR in alarms
        assert alarms[A_EMPTY_RESERVOIR] <= ceil_div(t_last.numerator, t_last.denominator), (
            "SR-6 late EMPTY", alarms[A_EMPTY_RESERVOIR], t_last)
    if d["mode"] == "continuous":
        # Basal alone empties the reservoir by this time (boluses only make it sooner).
        rate = Fraction(d["rate_ug_per_day"] * 10**6, DAY * d["concentration_ug_per_ml"] * n)
        if Fraction(s_max) / rate + 2 <= horizon:
            assert total == s_max, ("SR-6 never reached empty", total, s_max)
    # SR-7: the LOW alarm no later than the step that takes the reservoir to <= low.
    j_low = ceil_div(fill - low, n)
    if j_low <= 0:
        assert alarms.get(A_LOW_RESERVOIR) == 0, "SR-7 reservoir low at the start"
    elif total >= j_low:
        t_j = rig.step_instant(j_low)
        assert A_LOW_RESERVOIR in alarms, "SR-7 no LOW alarm"
        assert alarms[A_LOW_RESERVOIR] <= t_j, ("SR-7 late LOW", alarms[A_LOW_RESERVOIR],
                                                t_j)


# ---------------------------------------------------------------------------------------------
# SR-8 invalid programmes are rejected whole
# ---------------------------------------------------------------------------------------------

JUNK = st.one_of(
    st.none(), st.booleans(), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=4), st.integers(-10**12, 10**12), st.integers(-2, 2),
    st.sampled_from([-1, 0, 1, 59, 60, 1439, 1440, 1441, 4000, 4001, 6000, 6001, 10**9]),
    st.builds(list), st.builds(dict), st.lists(st.integers(-5, 2000), max_size=3),
    st.lists(st.lists(st.integers(-5, 2000), max_size=3), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(-5, 5), max_size=2),
    st.sampled_from(["continuous", "flex", "bolus", "stopped", "Flex", ""]))


def _paths(obj, prefix=()):
    """Every (path to a container, key) in a nested dict/list."""
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.append((prefix, k))
            out.extend(_paths(v, prefix + (k,)))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.append((prefix, i))
            out.extend(_paths(v, prefix + (i,)))
    return out


def _containers(obj, prefix=()):
    out = [prefix] if isinstance(obj, dict) else []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.extend(_containers(v, prefix + (k,)))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.extend(_containers(v, prefix + (i,)))
    return out


def _get(obj, path):
    for k in path:
        obj = obj[k]
    return obj


@st.composite
def mutated(draw, d):
    d = copy.deepcopy(d)
    for _ in range(draw(st.integers(1, 3))):
        what = draw(st.sampled_from(["replace", "nudge", "delete", "unknown", "append"]))
        paths = _paths(d)
        if what in ("replace", "nudge", "delete") and paths:
            where, key = draw(st.sampled_from(paths))
            parent = _get(d, where)
            if what == "replace":
                parent[key] = draw(JUNK)
            elif what == "nudge" and isinstance(parent[key], int) and \
                    not isinstance(parent[key], bool):
                parent[key] = draw(st.sampled_from(
                    [parent[key] + 1, parent[key] - 1, -parent[key], parent[key] * 1000,
                     0, -1]))
            elif what == "delete":
                del parent[key]
        elif what == "unknown":
            where = draw(st.sampled_from(_containers(d)))
            _get(d, where)[draw(st.sampled_from(
                ["rate", "max_ug_per_day", "lockout", "amount", "Mode", "x"]))] = draw(JUNK)
        elif what == "append":
            lists = [p + (k,) for p, k in _paths(d) if isinstance(_get(d, p + (k,)), list)]
            if lists:
                _get(d, draw(st.sampled_from(lists))).append(draw(JUNK))
    return d


def _snapshot(pump):
    """The pump's observable state (the twin comparison below covers the rest)."""
    p = pump.plan
    i = pump.integral
    return (id(pump.prog), pump.anchor_s, pump.suspended, pump.delivering(),
            (i.whole, i.num, i.den), pump.steps, pump.reservoir_nl,
            [(b.kind, b.start_s, b.end_s, b.dose_ug, b.rn, b.rd) for b in pump.boluses],
            pump.lockout_remaining_s(), pump.next_due_s,
            (p.t0_s, p.until_s, p.rate_num, p.rate_den, p.phase_num, p.phase_den, p.steps),
            sorted(pump.alarms.table))


@st.composite
def invalid_scenarios(draw):
    board = draw(boards())
    d = draw(programme_dicts(board, modes=("continuous", "flex", "bolus"), max_ml_per_day=20))
    bad = draw(st.lists(mutated(d), min_size=1, max_size=3))
    times = sorted(draw(st.lists(st.integers(1, DAY), min_size=len(bad), max_size=len(bad))))
    presses = draw(press_times(2 * DAY)) if "patient_bolus" in d else []
    return board, d, list(zip(times, bad)), presses


@settings(max_examples=200, **SETTINGS)
@given(invalid_scenarios())
def test_sr8_invalid_programmes_rejected_whole(scenario):
    """SR-8 invalid programmes are rejected whole: a mutated programme (wrong types,
    out-of-range values, unknown keys, missing keys) either parses, or gives (field, reason)
    without raising; the parser never changes its input; and a running pump handed it returns
    that error, logs the rejection and goes on exactly as a twin pump that never saw it."""
    check_sr8(scenario)


def test_sr8_float_equal_to_the_programme_in_force():
    """SR-8, a case the property test found, pinned as a regression test.

    Found on 9902a7a (it came with 4fd68ba, "resending the programme in force is a no-op";
    fixed in 6fe93c6): Pump.program() returned None for a dict equal (==) to the programme in
    force before parsing it. 300.0 == 300 and True == 1 in Python, so {"rate_ug_per_day":
    300.0}, which parse_programme rejects ("rate_ug_per_day", "must be an integer"), was
    reported accepted and no rejection was logged."""
    d = {"mode": "continuous", "concentration_ug_per_ml": 500, "rate_ug_per_day": 300,
         "max_ug_per_24h": 400}
    check_sr8((make_board(20, 3200, 40_000_000), d, [(1, dict(d, rate_ug_per_day=300.0))],
               []))


def check_sr8(scenario):
    board, d, bad, presses = scenario
    twin = Rig(board, d)
    rig = Rig(board, d)
    script = sorted([(t, 0, None) for t in presses] + [(t, 1, m) for t, m in bad],
                    key=lambda x: (x[0], x[1]))
    rejected = 0
    for t, what, m in script:
        rig.run_to(t)
        twin.run_to(t)
        if what == 0:
            assert rig.cmd(rig.pump.request_patient_bolus) == \
                twin.cmd(twin.pump.request_patient_bolus)
            continue
        before = copy.deepcopy(m)
        prog, err = parse_programme(m, board)
        assert m == before, "parse_programme changed its input"
        assert (prog is None) != (err is None)
        _stat("mutated programme parses: %s" % (err is None))
        if err is None:
            return      # the mutation happened to be valid: nothing more to compare
        field, reason = err
        assert isinstance(field, str) and isinstance(reason, str) and reason
        snap = _snapshot(rig.pump)
        seq = rig.pump.log.seq
        assert rig.cmd(rig.pump.program, m) == err
        assert _snapshot(rig.pump) == snap, "a rejected programme changed the pump"
        recs = rig.pump.log.since(seq)
        assert [(r[1], r[2]) for r in recs] == [(t, E_PROGRAMME_REJECTED)]
        rejected += 1
    end = 3 * DAY
    rig.run_to(end)
    twin.run_to(end)
    assert rig.motor.total_steps == twin.motor.total_steps
    assert rig.pump.reservoir_nl == twin.pump.reservoir_nl
    ours = [r[1:] for r in rig.events if r[2] != E_PROGRAMME_REJECTED]
    theirs = [r[1:] for r in twin.events]
    assert ours == theirs
    assert rejected == len(bad)


@settings(max_examples=300, **SETTINGS)
@given(st.data())
def test_sr8_parser_total_on_junk(data):
    """SR-8 the programme parser is total: any JSON-like value (valid-looking or not) gives a
    Programme or (field, reason), never an exception."""
    board = data.draw(boards())
    d = data.draw(programme_dicts(board, modes=("continuous", "flex", "bolus", "stopped")))
    m = data.draw(st.one_of(mutated(d), JUNK))
    prog, err = parse_programme(m, board)
    assert (prog is None) != (err is None)
    if err is not None:
        assert isinstance(err[0], str) and isinstance(err[1], str)
