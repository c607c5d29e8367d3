# Write-ahead checkpoints of the dosing core, and what a pump restarts from. The rule that makes
# a reset safe: the motor never gets a plan the stored state does not already cover. Before a
# plan goes to the motor (every second on a board, every event in the simulator) guard() saves
# a snapshot if anything changed (the event log moved: a bolus, a refill, an alarm, a new
# programme), the rate changed, or HORIZON_S passed; the snapshot carries a reserve of steps
# (the current rate for 2 x HORIZON_S, at most what the reservoir allows), and the plan is cut
# so the motor can never pass what the last saved snapshot counts. Restoring counts the whole
# reserve as delivered (pump.snapshot). A save that fails raises the critical `storage` alarm:
# delivery stops at the reserve, and resumes (latched until acknowledged) once a save works.
# The store: save_state(bytes) (OSError on failure), load_state() -> bytes or None, and its
# `state` slots' `found` and `doubt` (pumphw.store). Called from a task, never an interrupt.
import json

from pump import codes, limits
from pump.core import SINGLE_DONE, Pump
from pump.snapshot import capture, restore

HORIZON_S = 1800
# A board clock that survived the reset (a watchdog or soft reset: no power cut) can only
# have run for the checkpoint's age and a restart: a longer gap is a clock that was set or
# jumped, and the time off is then taken as unknown (moving the schedule early could break a
# cap; the lowest rate cannot).
MAX_TRUSTED_OFF_S = 2 * HORIZON_S
# How a pump came back (recover()).
RESTORED = 0        # from its newest checkpoint
FRESH = 1           # a newly flashed board: nothing stored yet, nothing to deliver
LOST = 2            # stored state missing or corrupt: empty, stopped, critical alarm
DOUBT = 3           # a slot failed that may have held a newer checkpoint: worst case assumed


class Checkpointer:
    def __init__(self, store, horizon_s=HORIZON_S):
        self.store = store
        self.horizon_s = horizon_s
        self.limit = None        # pump.steps the motor may reach under the stored snapshot
        self.writes = 0
        self.failures = 0
        self._seq = -1           # the log's seq, the rate and the time of the last save
        self._rn = None
        self._rd = None
        self._at = 0

    def guard(self, pump, extra=None, clock_s=None):
        """Call after the core has decided and before the motor takes pump.plan. extra: a
        function giving the link's state to keep with it (called only to save); clock_s: the
        board's clock if it survives resets. False if a save was needed and failed."""
        plan = pump.plan
        room = 0 if self.limit is None else self.limit - pump.steps
        if (self.limit is None or pump.log.seq != self._seq or plan.rate_num != self._rn
                or plan.rate_den != self._rd
                or pump.now_s - self._at >= self.horizon_s
                or room < _span_steps(pump, self.horizon_s)):
            ok = self._save(pump, extra, clock_s)
            room = 0 if self.limit is None else self.limit - pump.steps
        else:
            ok = True
        if plan.steps > room:
            plan.steps = room if room > 0 else 0
        return ok

    def due_s(self):
        """When the horizon asks for the next save (pump time), or None before the first."""
        return None if self.limit is None else self._at + self.horizon_s

    def due_now(self):
        """Save at the next guard() whatever changed (a board about to sleep; a test)."""
        self._at = -self.horizon_s

    def _save(self, pump, extra, clock_s):
        now = pump.now_s
        reserve = _span_steps(pump, 2 * self.horizon_s)
        stalled = codes.A_STORAGE in pump.alarms.table and \
            pump.alarms.table[codes.A_STORAGE].condition
        try:
            data = json.dumps({"pump": capture(pump, reserve), "clock": clock_s,
                               "link": None if extra is None else extra()})
            self.store.save_state(data.encode())
        except (OSError, MemoryError):
            self.failures += 1
            if not stalled:
                pump.condition(now, codes.A_STORAGE, True)   # stops delivery: plan is zero
            return False
        self.writes += 1
        self.limit = pump.steps + reserve
        self._seq = pump.log.seq
        self._rn, self._rd = pump.plan.rate_num, pump.plan.rate_den
        self._at = now
        if stalled:
            pump.condition(now, codes.A_STORAGE, False)       # latched until acknowledged
        return True


def _span_steps(pump, seconds):
    """The most steps the plan issues in the next `seconds`: its rate, no further than where it
    ends (a bolus's end, a change of rate: the next checkpoint covers what follows) nor past
    what the reservoir estimate allows."""
    plan = pump.plan
    if not plan.rate_num:
        return 0
    i = pump.integral
    return min(plan.steps, i.whole_after(plan.rate_num, plan.rate_den, seconds) - i.whole)


def recover(store, board, clock_s=None, log_size=128):
    """(pump, the link's stored state or None, how) after a reset. clock_s: the board's clock
    now, if it has one that survives resets; the time off is taken from it when it reads
    later than at the checkpoint; unknown, the schedule waits at its lowest rate for a time
    sync (pump.snapshot)."""
    data = store.load_state()
    slots = store.state
    if data is None:
        pump = Pump(board, 0, log_size)
        if not slots.found and store.fresh():
            return pump, None, FRESH
        return _lost(pump), None, LOST
    try:
        saved = json.loads(data)
        shift = None
        if clock_s is not None and saved["clock"] is not None and \
                saved["clock"] < clock_s <= saved["clock"] + MAX_TRUSTED_OFF_S:
            shift = clock_s - saved["clock"] - 1
        snap = saved["pump"]
        if slots.doubt:
            snap["reserve"] = _worst_reserve(board, snap)
        pump = restore(board, snap, shift, log_size)
    except (ValueError, KeyError, TypeError, IndexError, AttributeError):
        return _lost(Pump(board, 0, log_size)), None, LOST
    if not slots.doubt:
        return pump, saved["link"], RESTORED
    # The lost checkpoint may have started the single or a periodic bolus (not to be given
    # again), or held a refill that left less drug than before: the estimate is gone too
    # (empty: a refill re-establishes it), and the lockout restarts.
    now = pump.now_s
    pump.last_patient_s = now
    pump.reservoir_nl = 0
    pump.single = SINGLE_DONE
    if pump.prog is not None:
        pump._periodic_s, pump._periodic_idx = pump.prog.periodic_next(
            now + 2 * HORIZON_S, pump.anchor_s)
    pump.condition(now, codes.A_MEMORY, True)
    pump.condition(now, codes.A_MEMORY, False)
    return pump, saved["link"], DOUBT


def _worst_reserve(board, snap):
    """The lost checkpoint may have started a bolus or a faster rate: count a full day's hard
    limit of drug at the programme's strength (no 24 h window could have held more), or the
    motor at full speed for as long as it could have run unsaved, whichever is less."""
    steps = board.max_steps_per_s * 2 * HORIZON_S
    source = snap["source"]
    if source is not None:
        conc = json.loads(source).get("concentration_ug_per_ml")
        if isinstance(conc, int) and conc > 0:
            day = board.max_ug_per_day * 1000000 // conc // board.nl_per_step + 1
            steps = min(steps, day)
    return steps


def _lost(pump):
    """Nothing to restore: no programme, so nothing runs; what the last day delivered is
    unknown, so once reprogrammed, patient boluses wait a full lockout and a day's count."""
    now = pump.now_s
    pump.log.add(now, codes.E_STATE_LOST, 0, 0)
    pump.last_patient_s = now
    pump.patient_starts = [(now, 0)] * limits.MAX_PATIENT_PER_24H
    pump.condition(now, codes.A_MEMORY, True)
    pump.condition(now, codes.A_MEMORY, False)
    return pump
