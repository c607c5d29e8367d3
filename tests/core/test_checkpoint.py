# Write-ahead checkpoints and recovery after a reset (pump.checkpoint, pump.snapshot), on both
# interpreters: what a restarted pump counts as delivered, what it refuses, what it resumes and
# which alarm it raises; and the storage faults (write failure, lost and doubtful state).
from corekit import DAY, HOUR, Rig, continuous, dystonia, patient
from pump import codes
from pump.checkpoint import DOUBT, FRESH, LOST, RESTORED, Checkpointer, recover
from pump.snapshot import time_sync
from pumphw.store import FRESH as FRESH_FILE, STATE, FileStore
from test_slots import MemFs


class FailingFs(MemFs):
    def __init__(self):
        MemFs.__init__(self)
        self.broken = False

    def write(self, name, data):
        if self.broken:
            raise OSError(5)
        MemFs.write(self, name, data)


def _rig(programme=None):
    r = Rig(programme or dystonia())
    fs = FailingFs()
    return r, fs, FileStore(fs), Checkpointer(FileStore(fs))


def _run(r, ck, t):
    """Advance second by second to t, checkpointing before each plan as the app does."""
    while r.pump.now_s < t:
        r.run_to(r.pump.now_s + 1)
        ck.guard(r.pump)


def test_a_restart_counts_the_reserve_as_delivered_and_never_resumes_a_bolus():
    """SR-24, SR-5, SR-26: every step the motor may have issued since the checkpoint counts
    as delivered (reservoir and 24 h ledger); the running bolus is not resumed; the lockout
    holds; a warning says the pump restarted."""
    r, fs, store, ck = _rig()
    ck.guard(r.pump)
    _run(r, ck, 7 * HOUR + 1800)
    assert r.pump.request_patient_bolus(r.pump.now_s) == codes.OK
    ck.guard(r.pump)
    _run(r, ck, 7 * HOUR + 1860)              # a minute into the bolus, then power fails
    reserve = ck.limit - r.pump.steps
    assert reserve > 0
    pump, link, how = recover(FileStore(fs), r.board, None, 256)
    assert how == RESTORED and link is None
    assert pump.steps == ck.limit             # everything the motor might have issued
    assert pump.reservoir_nl == r.pump.reservoir_nl - reserve * r.board.nl_per_step
    assert pump.ledger.total_pg >= r.pump.ledger.total_pg + reserve * 20 * 2000
    assert pump.now_s == ck._at + 1           # a second after the checkpoint, whatever the gap
    assert pump.boluses == []                 # the patient bolus is not resumed
    assert codes.A_RESTARTED in pump.alarms.table
    assert pump.alarms.table[codes.A_RESTARTED].priority == codes.P_WARNING
    assert pump.delivering()                  # a warning: basal goes on
    assert pump.request_patient_bolus(pump.now_s) == codes.R_LOCKOUT
    recs = pump.log.since(0)
    assert recs[-1][2] == codes.E_RESTORED or any(x[2] == codes.E_RESTORED for x in recs)
    assert any(x[2] == codes.E_BOLUS_ABORTED for x in recs)
    assert pump.log.seq > r.pump.log.seq - 1  # numbering goes on


def test_the_schedule_resumes_where_it_should_when_the_board_clock_knows_the_gap():
    """SR-26: with the time off known the schedule moves on by it; the pump's own clock still
    resumes a second after the checkpoint (lockouts and windows never end early). A new
    programme keeps the moved time of day."""
    r, fs, store, ck = _rig()
    _run(r, ck, 6 * HOUR - 60)                # 05:59, basal 2100 ug/day
    ck.due_now()
    ck.guard(r.pump, None, 1000)              # board clock 1000 s at the checkpoint
    pump, _, _ = recover(FileStore(fs), r.board, 1000 + 180, 256)
    assert pump.now_s == 6 * HOUR - 59
    assert pump.prog.basal_at(pump.now_s, pump.anchor_s)[0] == 2400   # 06:02 by the schedule
    again = dystonia()
    again["max_ug_per_24h"] = 4900
    assert pump.program(pump.now_s, again) is None
    assert (pump.now_s - pump.anchor_s) % DAY == 6 * HOUR + 120        # still 06:02
    # clock lost: the time of day is unknown, so the basal runs at the cycle's lowest rate
    # and no periodic bolus starts (no guess can then give a high-rate part twice or early),
    # until a time sync says how late it really is
    jumped, _, _ = recover(FileStore(fs), r.board, 1000 + 5 * HOUR, 256)
    assert jumped.time_unknown is not None          # a board clock 5 h on: set, not run
    lost, _, _ = recover(FileStore(fs), r.board, None, 256)
    assert lost.now_s == 6 * HOUR - 59 and lost.time_unknown is not None
    assert lost.alarms.table[codes.A_TIME_UNKNOWN].condition
    assert lost.plan.rate_num * 2000 * 86400 // lost.plan.rate_den == 2100 * 1000000 // 20
    assert lost.next_periodic_s() is None
    lost.wall_base_s = 1800000000                 # synced before the cut
    time_sync(lost, lost.now_s, 1800000000 + lost.now_s + 7 * HOUR)   # it is really 12:59
    assert lost.time_unknown is None
    assert not lost.alarms.table[codes.A_TIME_UNKNOWN].condition
    assert (lost.now_s - lost.anchor_s) % DAY == 12 * HOUR + 59 * 60 + 1
    assert lost.next_periodic_s() is not None


def test_the_motor_never_gets_past_what_the_stored_checkpoint_counts():
    """SR-24: the plan handed to the motor is cut at the stored checkpoint's reserve."""
    r, fs, store, ck = _rig(continuous(rate=2000))
    ck.guard(r.pump)
    limit = ck.limit
    fs.broken = True                          # no further checkpoint can be written
    _run(r, ck, 2 * HOUR)
    assert r.pump.steps <= limit


def test_a_failed_write_stops_delivery_until_one_succeeds_and_is_acknowledged():
    """SR-29: a checkpoint that cannot be written raises the critical storage alarm and stops
    delivery; it latches once writes work again."""
    r, fs, store, ck = _rig(continuous(rate=2000, patient_bolus=patient()))
    ck.guard(r.pump)
    fs.broken = True
    r.pump.request_patient_bolus(0)           # the state changes: a write is needed
    ck.guard(r.pump)
    a = r.pump.alarms.table[codes.A_STORAGE]
    assert a.priority == codes.P_CRITICAL and a.condition
    assert not r.pump.delivering() and r.pump.plan.steps == 0
    assert ck.failures >= 1
    fs.broken = False
    _run(r, ck, 10)
    assert not r.pump.alarms.table[codes.A_STORAGE].condition      # latched
    assert not r.pump.delivering()
    r.pump.acknowledge(r.pump.now_s, codes.A_STORAGE)
    ck.guard(r.pump)
    assert r.pump.delivering()


def test_no_valid_state_stops_everything_with_a_critical_alarm():
    """SR-25: stored state present but unreadable: no programme, delivery stopped, critical
    memory alarm; never a default programme."""
    r, fs, store, ck = _rig()
    ck.guard(r.pump)
    for name in STATE:
        fs.files[name] = b"OITB garbage"
    pump, link, how = recover(FileStore(fs), r.board, None, 256)
    assert how == LOST and pump.prog is None and not pump.delivering()
    assert pump.alarms.table[codes.A_MEMORY].priority == codes.P_CRITICAL
    assert pump.log.since(0)[0][2] == codes.E_STATE_LOST
    assert recover(FileStore(MemFs()), r.board)[2] == LOST     # nothing at all: lost too


def test_a_newly_flashed_board_starts_empty_without_alarm():
    fs = MemFs()
    fs.files[FRESH_FILE] = b""
    pump, link, how = recover(FileStore(fs), Rig().board)
    assert how == FRESH and pump.alarms.table == {} and pump.prog is None


def test_a_doubtful_newest_slot_assumes_the_worst():
    """SR-25, SR-2, SR-5: if the slot that failed may have held a newer checkpoint, the pump
    counts a full day's hard limit as just delivered, restarts the lockout, empties its
    reservoir estimate (the lost one may have been a refill) and raises the critical memory
    alarm."""
    r, fs, store, ck = _rig()
    ck.guard(r.pump)
    _run(r, ck, HOUR)
    ck.due_now()
    ck.guard(r.pump)
    newest = ck.store.state._newest
    data = bytearray(fs.files[STATE[newest]])
    data[40] ^= 0x08
    fs.files[STATE[newest]] = bytes(data)
    pump, _, how = recover(FileStore(fs), r.board, None, 256)
    assert how == DOUBT
    assert pump.alarms.table[codes.A_MEMORY].priority == codes.P_CRITICAL
    assert pump.last_patient_s == pump.now_s
    assert pump.reservoir_nl == 0 and codes.A_EMPTY_RESERVOIR in pump.alarms.table
    pump.acknowledge(pump.now_s, codes.A_MEMORY)
    assert not pump.delivering()               # until a refill re-establishes the volume
    pump.refill(pump.now_s, 0, 30000000, 30000000)
    pump.acknowledge(pump.now_s, codes.A_EMPTY_RESERVOIR)
    pump.acknowledge(pump.now_s, codes.A_LOW_RESERVOIR)
    assert pump.delivering()
    assert pump.request_patient_bolus(pump.now_s) == codes.R_LOCKOUT


def test_every_single_byte_corruption_of_a_stored_checkpoint_is_detected():
    """SR-25: flip any one byte of a real checkpoint file (the only one) and the pump comes
    back as lost state, never with the damaged one."""
    r, fs, store, ck = _rig()
    _run(r, ck, 3 * HOUR)
    good = fs.files[STATE[0]]
    fs.files.pop(STATE[1], None)
    for i in range(len(good)):
        bad = bytearray(good)
        bad[i] ^= 0xA5
        fs.files[STATE[0]] = bytes(bad)
        assert recover(FileStore(fs), r.board)[2] == LOST, i


def test_the_log_tail_and_alarms_survive_a_restart():
    r, fs, store, ck = _rig()
    _run(r, ck, DAY + 10)
    r.pump.alarm_test(r.pump.now_s)
    r.pump.silence(r.pump.now_s)
    ck.guard(r.pump)
    pump, _, _ = recover(FileStore(fs), r.board, None, 64)
    before = r.pump.log.since(r.pump.log.seq - 8)
    after = pump.log.since(0)
    for rec in before:
        assert rec in after
    assert pump.log.oldest() == after[0][0]


def test_an_acknowledged_board_alarm_does_not_come_back_as_a_zombie():
    """SR-26: a board alarm acknowledged while its cause was present is not restored (the
    board reports it again if the cause is still there); one not yet acknowledged stays
    latched, and acknowledging it then clears it."""
    r, fs, store, ck = _rig()
    _run(r, ck, 60)
    r.pump.condition(60, codes.A_BATTERY_EOS, True)
    r.pump.acknowledge(60, codes.A_BATTERY_EOS)
    r.pump.condition(60, codes.A_STORAGE, True)
    ck.guard(r.pump, None, 1000)
    pump, _, _ = recover(FileStore(fs), r.board, 1005, 256)      # the board's clock survived
    assert codes.A_BATTERY_EOS not in pump.alarms.table
    assert not pump.alarms.table[codes.A_STORAGE].condition
    assert pump.acknowledge(pump.now_s, codes.A_STORAGE)
    pump.acknowledge(pump.now_s, codes.A_RESTARTED)
    assert pump.alarms.table == {} and pump.delivering()


def test_the_reserve_covers_a_short_bolus_only_to_its_end():
    """SR-24: the steps counted at a restart are what the plan could issue before its next
    change, not an hour at a bolus's rate."""
    r, fs, store, ck = _rig(continuous(rate=1000, cap=3000))
    _run(r, ck, 60)
    assert r.pump.request_bolus(60, 200, 60) == codes.OK           # 200 ug over one minute
    ck.guard(r.pump, None, 1000)
    bolus_steps = 200 * 1000000 // 2000 // 20
    assert ck.limit - r.pump.steps <= bolus_steps + 20           # and a minute of basal
    pump, _, _ = recover(FileStore(fs), r.board, 1002, 256)
    assert pump.program(pump.now_s, continuous(rate=800, cap=3000)) is None


def test_old_drug_in_the_dead_volume_is_kept_across_a_restart():
    """SR-4: after a concentration change the reserve is counted at the stronger drug, and
    the old drug is still known to fill the line (those steps may never have moved it)."""
    r, fs, store, ck = _rig(continuous(rate=1000, conc=4000, cap=3000))
    _run(r, ck, 60)
    assert r.pump.program(60, continuous(rate=1000, conc=1000, cap=3000)) is None
    ck.guard(r.pump)
    old = r.pump.old_drug_nl
    pg = r.pump.ledger.total_pg
    pump, _, _ = recover(FileStore(fs), r.board, None, 256)
    reserve = pump.steps - r.pump.steps
    assert pump.old_drug_nl == old and old > 0
    assert pump.ledger.total_pg == pg + reserve * 20 * 4000


def test_after_a_doubtful_restore_the_single_bolus_is_not_given_again():
    """SR-25: the lost checkpoint may have started mode "bolus"'s single bolus."""
    single = {"mode": "bolus", "concentration_ug_per_ml": 2000, "max_ug_per_24h": 3000,
              "single_bolus": {"amount_ug": 500, "duration_min": 60}}
    r, fs, store, ck = _rig(single)
    ck.guard(r.pump)
    _run(r, ck, 120)
    newest = ck.store.state._newest
    fs.files[STATE[newest]] = b"OITB" + bytes(40)                    # the newest one lost
    pump, _, how = recover(FileStore(fs), r.board, None, 256)
    assert how in (DOUBT, LOST)
    pump.acknowledge(pump.now_s, codes.A_MEMORY)
    pump.refill(pump.now_s, 0, 30000000, 30000000)
    for code in list(pump.alarms.table):
        pump.acknowledge(pump.now_s, code)
    assert pump.boluses == [] and not pump.delivering()


def test_after_lost_state_the_patient_waits_a_lockout_and_a_day_once_reprogrammed():
    """SR-2, SR-3, SR-25: what the last day gave is unknown after lost state."""
    r, fs, store, ck = _rig()
    for name in STATE:
        fs.files[name] = b"garbage"
    pump, _, how = recover(FileStore(fs), r.board, None, 256)
    assert how == LOST
    pump.acknowledge(pump.now_s, codes.A_MEMORY)
    pump.refill(pump.now_s, 0, 0, 30000000)
    assert pump.program(pump.now_s, dystonia()) is None
    assert pump.request_patient_bolus(pump.now_s) == codes.R_LOCKOUT
    pump.advance(pump.now_s + 3 * HOUR, 0)
    assert pump.request_patient_bolus(pump.now_s) == codes.R_COUNT_24H


def test_while_the_time_of_day_is_unknown_only_stopping_may_be_programmed():
    """SR-26: a schedule checked at an unknown time of day could land anywhere once it is
    known; after a day at the lowest rate the full schedule resumes by itself."""
    r, fs, store, ck = _rig()
    _run(r, ck, 3 * HOUR)
    ck.due_now()
    ck.guard(r.pump)
    pump, _, _ = recover(FileStore(fs), r.board, None, 256)
    err = pump.program(pump.now_s, continuous(rate=800, cap=3000))
    assert err is not None and err[0] == "time"
    assert pump.review_change(pump.prog)[0] is None            # the same one: no change
    start = pump.now_s
    while pump.now_s < start + DAY:                             # a day at the lowest rate
        assert pump.time_unknown is not None
        pump.advance(min(pump.next_due_s, start + DAY), 0)
    assert pump.time_unknown is None and pump.next_periodic_s() is not None
    assert not pump.alarms.table[codes.A_TIME_UNKNOWN].condition
    assert pump.program(pump.now_s, {"mode": "stopped", "concentration_ug_per_ml": 2000,
                                     "max_ug_per_24h": 4800}) is None


def test_a_first_time_sync_after_a_lost_clock_cannot_move_the_schedule():
    """SR-26: with no wall-clock base from before, or a wall clock gone back, nothing says how
    late it is: the lowest-rate wait goes on; after a day the schedule resumes at its own time
    of day, and then a later sync does not move it by the old base."""
    r, fs, store, ck = _rig()
    _run(r, ck, 3 * HOUR)
    ck.due_now()
    ck.guard(r.pump)
    pump, _, _ = recover(FileStore(fs), r.board, None, 256)
    time_sync(pump, pump.now_s, 1800000000)
    assert pump.time_unknown is not None               # never synced before: no shift known
    pump.wall_base_s = 1800000000
    time_sync(pump, pump.now_s, 1700000000)             # gone back: still unknown
    assert pump.time_unknown is not None
    start = pump.now_s
    pump.advance(start + DAY, 0)
    assert pump.time_unknown is None and pump.wall_base_s == 0
