# The dosing core's state as one JSON-able dict, and the recovery rules that bring a pump back
# from it after a reset. A snapshot is written ahead of the motor (pump.checkpoint): it carries
# `reserve`, the most steps the motor may issue before the next snapshot, and restoring counts
# all of them as delivered, since the reset may have come just before the next write: for the
# 24 h cap and the reservoir estimate (never deliver twice, never overstate what is left). A
# bolus running at the snapshot is not resumed (its rest could repeat what was given); the
# pump's clock resumes one second after the snapshot, so lockouts and windows never end early,
# while the schedule moves on by the time off when the board's clock knows it; when it does
# not, the basal runs at the cycle's lowest rate, without periodic boluses, until a time sync
# (any guess could give a high-rate part of the schedule twice, or early).
# Allocates freely: called from a task at a checkpoint or at boot, never from an interrupt.
import json

from pump import codes
from pump.alarms import Alarm
from pump.core import Bolus, Pump
from pump.limits import DAY_S
from pump.programme import parse_programme

FORMAT = 1
LOG_TAIL = 16          # event-log records kept across a reset


def capture(pump, reserve):
    """The pump's state now, with `reserve` steps that may be issued before the next one."""
    alarms = []
    for code in sorted(pump.alarms.table):
        a = pump.alarms.table[code]
        if code != codes.A_TEST:        # a test in progress is not worth restoring
            alarms.append([code, a.raised_s, a.acked, a.condition, a.silenced_until])
    i = pump.integral
    return {
        "format": FORMAT,
        "now": pump.now_s,
        "reserve": reserve,
        "source": pump.source,
        "anchor": pump.anchor_s,
        "suspended": pump.suspended,
        "time_unknown": pump.time_unknown,
        "wall_base": pump.wall_base_s,
        "single": pump.single,
        "integral": [i.whole, i.num, i.den],
        "steps": pump.steps,
        "reservoir": pump.reservoir_nl,
        "boluses": [[b.kind, b.start_s, b.end_s - b.start_s, b.dose_ug, b.rn, b.rd,
                     b.replaces_basal] for b in pump.boluses],
        "patient": [list(p) for p in pump.patient_starts],
        "last_patient": pump.last_patient_s,
        "old_drug": [pump.old_drug_nl, pump.old_conc_ug_per_ml],
        "periodic": [pump._periodic_s, pump._periodic_idx],
        "ledger": [pump.ledger.total_pg, _ledger_points(pump.ledger)],
        "alarms": alarms,
        "log": [pump.log.seq, [list(r) for r in pump.log.since(pump.log.seq - LOG_TAIL)]],
    }


def restore(board, snap, shift_s=None, log_size=128):
    """A pump rebuilt from a snapshot, its schedule moved on by shift_s, the time off less the
    second the clock resumes at (None: unknown). Raises ValueError if the snapshot does not make
    a valid pump (the caller treats that as lost state)."""
    if snap.get("format") != FORMAT:
        raise ValueError("snapshot format")
    t = snap["now"]
    pump = Pump(board, t, log_size)
    if snap["source"] is not None:
        prog, err = parse_programme(json.loads(snap["source"]), board)
        if err is not None:
            raise ValueError("stored programme: " + err[0])
        pump.prog = prog
        pump.source = snap["source"]
    pump.anchor_s = snap["anchor"]
    pump.suspended = snap["suspended"]
    pump.time_unknown = snap["time_unknown"]
    pump.wall_base_s = snap["wall_base"]
    pump.single = snap["single"]
    pump.integral.whole, pump.integral.num, pump.integral.den = snap["integral"]
    pump.steps = snap["steps"]
    pump.reservoir_nl = snap["reservoir"]
    for kind, start, dur, dose, rn, rd, replaces in snap["boluses"]:
        pump.boluses.append(Bolus(kind, start, dur, dose, rn, rd, replaces))
    pump.patient_starts = [(s, ug) for s, ug in snap["patient"]]
    pump.last_patient_s = snap["last_patient"]
    pump.old_drug_nl, pump.old_conc_ug_per_ml = snap["old_drug"]
    pump._periodic_s, pump._periodic_idx = snap["periodic"]
    _load_ledger(pump.ledger, *snap["ledger"])
    seq, records = snap["log"]
    _resume_log(pump.log, seq, records)
    for code, raised, acked, condition, silenced in snap["alarms"]:
        a = Alarm(code, raised)
        if code != codes.A_LOW_RESERVOIR and code != codes.A_EMPTY_RESERVOIR:
            # Only the reservoir's conditions are the core's own; the board reports its own
            # (stall, battery, storage ...) again if they are still there. One already
            # acknowledged would then clear at once: it goes; one not yet stays latched.
            if acked:
                continue
            condition = False
        a.acked, a.condition, a.silenced_until = acked, condition, silenced
        pump.alarms.table[code] = a
    _recover(pump, snap["reserve"], shift_s)
    return pump


# The ledger's and the log's insides, read and written here rather than in their own modules so
# a board loads this code only at a checkpoint or a restart (the core's RAM budget).

def _ledger_points(ledger):
    size = len(ledger._t)
    return [[ledger._t[(ledger._first + k) % size], ledger._c[(ledger._first + k) % size]]
            for k in range(ledger.count)]


def _load_ledger(ledger, total_pg, points):
    if not 0 < len(points) <= len(ledger._t):
        raise ValueError("ledger points")
    for k in range(len(points)):
        ledger._t[k], ledger._c[k] = points[k]
    ledger._first = 0
    ledger.count = len(points)
    ledger.total_pg = total_pg


def _resume_log(log, seq, records):
    """Carry on numbering from seq, holding `records` (the newest last) from before."""
    log.seq = seq
    log._floor = seq
    for r in records[-len(log._ring):]:
        log._ring[r[0] % len(log._ring)] = tuple(r)
        if r[0] < log._floor:
            log._floor = r[0]
    log.resumed = seq


def _recover(pump, reserve, shift_s):
    """The worst case since the snapshot: all `reserve` steps issued, as late as they could
    have been (in the second before the pump is back), and nothing running resumed. The pump's
    clock goes on one second after the snapshot, whatever the time off, so lockouts and 24 h
    windows count the past as recent as it could be; the schedule moves on by shift_s, or with
    it None runs at its lowest rate until the time is known."""
    now = pump.now_s + 1
    pump.ledger.mark(now - 1)
    if reserve:
        # Counted as issued, at the stronger drug if old drug may still fill the dead volume,
        # which is left as it was: those steps may never have moved it.
        nl = reserve * pump.board.nl_per_step
        conc = 0 if pump.prog is None else pump.prog.conc_ug_per_ml
        if pump.old_drug_nl > 0 and pump.old_conc_ug_per_ml > conc:
            conc = pump.old_conc_ug_per_ml
        pump.steps += reserve
        pump.reservoir_nl = max(0, pump.reservoir_nl - nl)
        pump.ledger.add(nl * conc)
    pump.integral.set_whole(pump.integral.whole + reserve)
    pump.now_s = now
    pump.ledger.mark(now)
    pump._ledger_key = None
    pump._abort_boluses()
    if shift_s is None:
        # The time of day is lost: any guess could run a high-rate part of the schedule
        # twice or early; the lowest rate cannot overtake it (until time_sync(), or a day).
        if pump.time_unknown is None:
            pump.time_unknown = now
        pump.alarms.raise_alarm(codes.A_TIME_UNKNOWN, now)
    elif shift_s > 0:
        if pump.wall_base_s:
            pump.wall_base_s += shift_s     # the pump's clock is that much further behind
        if pump.prog is not None:
            pump.anchor_s -= shift_s
            pump._periodic_s, pump._periodic_idx = pump.prog.periodic_next(now, pump.anchor_s)
    pump.alarms.raise_alarm(codes.A_RESTARTED, now)
    pump.alarms.condition_cleared(codes.A_RESTARTED, now)
    pump.log.add(now, codes.E_RESTORED, reserve, -1 if shift_s is None else shift_s)
    pump._events()
    pump._replan()


def time_sync(pump, now_s, wall_s):
    """A host tells the wall-clock time (Unix s); returns the pump's new wall-clock base. After a
    restart that lost the clock the pump's clock runs behind the wall clock by the time it could
    not count: the schedule moves on by that (the change of the base) and runs in full. With no
    earlier base, or a wall clock gone back, there is nothing sound to go by: the lowest-rate
    wait goes on (a day at most). Loaded only when needed, so the core stays small."""
    pump._at(now_s)
    old = pump.wall_base_s
    pump.wall_base_s = wall_s - now_s
    if pump.time_unknown is not None and old and pump.wall_base_s >= old:
        shift = pump.wall_base_s - old
        if shift > 0:
            pump.anchor_s -= shift
        time_known_again(pump, now_s)
        pump._replan()
    return pump.wall_base_s


def time_known_again(pump, now_s):
    """End the lowest-rate wait: by a time sync, or after a whole day of it, when the full
    schedule may resume at any time of day (every 24 h window then holds lowest-rate time and
    one unbroken stretch of the schedule, never more than a window of the schedule). Resumed
    that way, the schedule's time of day is the pump's own: the old wall-clock base no longer
    says where it is, and a later time sync must not move it by it."""
    if pump.time_unknown is not None and now_s >= pump.time_unknown + DAY_S:
        pump.wall_base_s = 0
    pump.time_unknown = None
    if pump.prog is not None:
        pump._periodic_s, pump._periodic_idx = pump.prog.periodic_next(now_s, pump.anchor_s)
    pump.alarms.condition_cleared(codes.A_TIME_UNKNOWN, now_s)


def lowest_basal(prog):
    """The lowest basal rate anywhere in the cycle, ug/day: what runs while the time of day is
    unknown, since it can overtake no 24 h window of the schedule."""
    low = None
    for starts, rates in prog.days:
        for r in rates:
            if low is None or r < low:
                low = r
    return low or 0
