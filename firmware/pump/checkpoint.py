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

from pump import codes
from pump.core import Pump
from pump.snapshot import capture, restore

HORIZON_S = 1800
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
        self._rate = None
        self._at = 0

    def guard(self, pump, extra=None, clock_s=None):
        """Call after the core has decided and before the motor takes pump.plan. extra: the
        link's state to keep with it; clock_s: the board's clock if it survives resets."""
        plan = pump.plan
        rate = (plan.rate_num, plan.rate_den)
        if (self.limit is None or pump.log.seq != self._seq or rate != self._rate
                or pump.now_s - self._at >= self.horizon_s):
            self._save(pump, extra, clock_s)
        room = 0 if self.limit is None else self.limit - pump.steps
        if plan.steps > room:
            plan.steps = room if room > 0 else 0

    def due_s(self):
        """When the horizon asks for the next save (pump time), or None before the first."""
        return None if self.limit is None else self._at + self.horizon_s

    def due_now(self):
        """Save at the next guard() whatever changed (a board about to sleep; a test)."""
        self._at = -self.horizon_s

    def _save(self, pump, extra, clock_s):
        now = pump.now_s
        reserve = reserve_steps(pump, 2 * self.horizon_s)
        data = json.dumps({"pump": capture(pump, reserve), "clock": clock_s, "link": extra})
        stalled = codes.A_STORAGE in pump.alarms.table and \
            pump.alarms.table[codes.A_STORAGE].condition
        try:
            self.store.save_state(data.encode())
        except OSError:
            self.failures += 1
            if not stalled:
                pump.condition(now, codes.A_STORAGE, True)   # stops delivery: plan is zero
            return
        self.writes += 1
        self.limit = pump.steps + reserve
        self._seq = pump.log.seq
        self._rate = (pump.plan.rate_num, pump.plan.rate_den)
        self._at = now
        if stalled:
            pump.condition(now, codes.A_STORAGE, False)       # latched until acknowledged


def reserve_steps(pump, seconds):
    """The most steps the motor may issue in `seconds` at the plan's rate, within what the
    reservoir estimate allows."""
    plan = pump.plan
    if not plan.rate_num:
        return 0
    i = pump.integral
    return min(i.whole_after(plan.rate_num, plan.rate_den, seconds) - i.whole,
               pump._steps_left())


def recover(store, board, clock_s=None, log_size=128):
    """(pump, the link's stored state or None, how) after a reset. clock_s: the board's clock
    now, if it has one that survives resets; the time off is taken from it when it reads
    later than at the checkpoint, else as one second."""
    data = store.load_state()
    slots = store.state
    if data is None:
        pump = Pump(board, 0, log_size)
        if not slots.found and store.fresh():
            return pump, None, FRESH
        return _lost(pump), None, LOST
    try:
        saved = json.loads(data)
        elapsed = None
        if clock_s is not None and saved["clock"] is not None and clock_s > saved["clock"]:
            elapsed = clock_s - saved["clock"]
        snap = saved["pump"]
        if slots.doubt:
            snap["reserve"] = _worst_reserve(board, snap)
        pump = restore(board, snap, elapsed, log_size)
    except (ValueError, KeyError, TypeError):
        return _lost(Pump(board, 0, log_size)), None, LOST
    if not slots.doubt:
        return pump, saved["link"], RESTORED
    # The lost checkpoint may also have held a refill that left less drug than before: the
    # estimate is gone too (empty: a refill re-establishes it), and the lockout restarts.
    pump.last_patient_s = pump.now_s
    pump.reservoir_nl = 0
    pump.condition(pump.now_s, codes.A_MEMORY, True)
    pump.condition(pump.now_s, codes.A_MEMORY, False)
    return pump, saved["link"], DOUBT


def _worst_reserve(board, snap):
    """The lost checkpoint may have started a bolus or a faster rate: count a full day's hard
    limit of drug at the programme's strength (no 24 h window could have held more), or the
    motor at full speed for as long as it could have run unsaved, whichever is less."""
    steps = board.max_steps_per_s * 2 * HORIZON_S
    source = snap["source"]
    if source is not None:
        conc = source.get("concentration_ug_per_ml")
        if isinstance(conc, int) and conc > 0:
            day = board.max_ug_per_day * 1000000 // conc // board.nl_per_step + 1
            steps = min(steps, day)
    return steps


def _lost(pump):
    pump.log.add(pump.now_s, codes.E_STATE_LOST, 0, 0)
    pump.condition(pump.now_s, codes.A_MEMORY, True)
    pump.condition(pump.now_s, codes.A_MEMORY, False)
    return pump
