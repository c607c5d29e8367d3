# The dosing core's state as one JSON-able dict, and the recovery rules that bring a pump back
# from it after a reset. A snapshot is written ahead of the motor (pump.checkpoint): it carries
# `reserve`, the most steps the motor may issue before the next snapshot, and restoring counts
# all of them as delivered, since the reset may have come just before the next write: for the
# 24 h cap and the reservoir estimate (never deliver twice, never overstate what is left). A
# bolus running at the snapshot is not resumed (its rest could repeat what was given); the
# pump's clock resumes one second after the snapshot, so lockouts and windows never end early,
# while the schedule moves on by the time off when the board's clock knows it. Allocates
# freely: called from a task at a checkpoint or at boot, never from an interrupt.
from pump import codes
from pump.alarms import Alarm
from pump.core import Bolus, Pump
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
        "ledger": [pump.ledger.total_pg, pump.ledger.points()],
        "alarms": alarms,
        "log": [pump.log.seq, [list(r) for r in pump.log.since(pump.log.seq - LOG_TAIL)]],
    }


def restore(board, snap, elapsed_s=None, log_size=128):
    """A pump rebuilt from a snapshot taken elapsed_s ago by the board's clock (None: that
    clock did not survive). Raises ValueError if the snapshot does not make a valid pump (the
    caller treats that as lost state)."""
    if snap.get("format") != FORMAT:
        raise ValueError("snapshot format")
    t = snap["now"]
    pump = Pump(board, t, log_size)
    if snap["source"] is not None:
        prog, err = parse_programme(snap["source"], board)
        if err is not None:
            raise ValueError("stored programme: " + err[0])
        pump.prog = prog
        pump.source = snap["source"]
    pump.anchor_s = snap["anchor"]
    pump.suspended = snap["suspended"]
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
    pump.ledger.load(*snap["ledger"])
    seq, records = snap["log"]
    pump.log.resume(seq, records)
    for code, raised, acked, condition, silenced in snap["alarms"]:
        if acked and not condition and code != codes.A_LOW_RESERVOIR and \
                code != codes.A_EMPTY_RESERVOIR:
            continue                    # acknowledged and gone: it would clear now
        a = Alarm(code, raised)
        # Only the reservoir's conditions are the core's own; the board re-reports its own
        # (stall, battery, storage ...) if they are still there.
        if code != codes.A_LOW_RESERVOIR and code != codes.A_EMPTY_RESERVOIR:
            condition = False
        a.acked, a.condition, a.silenced_until = acked, condition, silenced
        pump.alarms.table[code] = a
    _recover(pump, snap["reserve"], 0 if elapsed_s is None or elapsed_s < 1 else elapsed_s - 1)
    return pump


def _recover(pump, reserve, shift_s):
    """The worst case since the snapshot: all `reserve` steps issued, as late as they could
    have been (in the second before the pump is back), and nothing running resumed. The pump's
    clock goes on one second after the snapshot, whatever the time off, so lockouts and 24 h
    windows count the past as recent as it could be; the schedule moves on by shift_s (the
    rest of the time off, when the board's clock knows it) so it resumes where it should."""
    now = pump.now_s + 1
    pump.ledger.mark(now - 1)
    if reserve:
        pump._account(reserve)
    pump.integral.set_whole(pump.integral.whole + reserve)
    pump.now_s = now
    pump.ledger.mark(now)
    pump._ledger_key = None
    pump._abort_boluses()
    if pump.prog is not None and shift_s:
        pump.anchor_s -= shift_s
        pump._periodic_s, pump._periodic_idx = pump.prog.periodic_next(now, pump.anchor_s)
    pump.alarms.raise_alarm(codes.A_RESTARTED, now)
    pump.alarms.condition_cleared(codes.A_RESTARTED, now)
    pump.log.add(now, codes.E_RESTORED, reserve, shift_s)
    pump._events()
    pump._replan()
