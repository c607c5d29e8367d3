"""Fault injection through the board layer into the real application (pumpapp.App): a clock
that jumps, goes back or stops; a flooded link; storage that fails; a power cut and restart.
The HAL here is the virtual board's motor over a fake clock and the simulator's flash: nothing
in the firmware knows it is under test."""
from pump import codes
from pump.codes import A_CLOCK, A_LINK_FLOOD, A_RESTARTED, A_STORAGE
from pumphw.store import FRESH, FileStore
from pumpsim.faults import SimFlash
from pumpwire.auth import CLINICIAN

from tests.core.corekit import board, continuous, patient


class Hw:
    pins = {"step": 2, "dir": 3, "enable": 4}
    eri_mv = 0
    stall_steps = 10 ** 6
    watchdog_ms = 5000


class BrokenFlash(SimFlash):
    broken = False
    only = ""          # with broken: only files whose names start so fail
    on_write = None

    def write(self, name, data):
        if self.broken and name.startswith(self.only):
            raise OSError(28)
        SimFlash.write(self, name, data)
        if self.on_write is not None:
            self.on_write(name)


class Hal:
    def __init__(self, flash):
        from pumphw.unix import Motor
        self.motor = Motor()
        self.store = FileStore(flash)
        self.ms = 0
        self.written = []
        self.order = []
        flash.on_write = lambda name: self.order.append(name)

    def ticks_ms(self):
        return self.ms & ((1 << 30) - 1)

    def rtc_s(self):
        return None

    def link_write(self, data):
        self.written.append(bytes(data))
        self.order.append("answer")


def boot(flash=None):
    from pumpapp.app import App
    if flash is None:
        flash = BrokenFlash()
        flash.write(FRESH, b"")
    hal = Hal(flash)
    app = App(hal, board(), Hw(), {CLINICIAN: b"k" * 32}, "t")
    app.session = app.link.session(app._write)
    return app, hal, flash


def run(app, hal, seconds, step_ms=1000):
    for _ in range(seconds * 1000 // step_ms):
        hal.ms += step_ms
        app.step()


def programmed(rate=2000):
    app, hal, flash = boot()
    pump = app.pump
    pump.refill(0, 0, 0, 40_000_000)
    assert pump.program(0, continuous(rate=rate, patient_bolus=patient())) is None
    app.commanded()
    return app, hal, flash


def test_a_clock_jump_never_moves_the_pump_clock_and_raises_the_clock_warning():
    """SR-27: ticks that leap an hour ahead move the pump clock by nothing; ticks that go back
    hold it; the `clock` warning is raised and latches; delivery goes on."""
    app, hal, _ = programmed()
    run(app, hal, 10)
    before = app.pump.now_s
    hal.ms += 3_600_000
    app.step()
    assert app.pump.now_s == before
    a = app.pump.alarms.table[A_CLOCK]
    assert a.priority == codes.P_WARNING and app.pump.delivering()
    hal.ms -= 10_000
    app.step()
    assert app.pump.now_s == before
    run(app, hal, 20)
    assert app.pump.now_s >= before + 9          # time flows again, held back only
    assert app.pump.now_s <= before + 20
    assert not app.pump.alarms.table[A_CLOCK].condition     # latched until acknowledged


def test_a_flooded_link_is_throttled_and_warned_but_dosing_goes_on():
    """SR-28: garbage beyond the budget is dropped and counted, `link_flood` is raised while it
    lasts and latches after; the motor's plan is untouched."""
    app, hal, _ = programmed()
    run(app, hal, 5)
    plan_rate = (app.pump.plan.rate_num, app.pump.plan.rate_den)
    for _ in range(40):
        app.received(b"\x55" * 4096)
    assert app.flood.dropped > 100_000
    run(app, hal, 1)
    assert app.pump.alarms.table[A_LINK_FLOOD].condition
    assert (app.pump.plan.rate_num, app.pump.plan.rate_den) == plan_rate
    assert app.pump.delivering()
    run(app, hal, 15)
    assert not app.pump.alarms.table[A_LINK_FLOOD].condition


def test_failing_storage_stops_delivery_until_a_write_works_and_is_acknowledged():
    """SR-29: the app's checkpoint cannot be written: critical `storage`, motor plan empty."""
    app, hal, flash = programmed()
    run(app, hal, 5)
    flash.broken = True
    app.pump.request_patient_bolus(app.pump.now_s)
    app.commanded()
    assert app.pump.alarms.table[A_STORAGE].condition
    assert app.pump.plan.steps == 0 and not app.pump.delivering()
    flash.broken = False
    run(app, hal, 3)
    assert not app.pump.alarms.table[A_STORAGE].condition
    app.pump.acknowledge(app.pump.now_s, A_STORAGE)
    app.commanded()
    assert app.pump.delivering()


def test_a_power_cut_restarts_from_the_checkpoint_with_the_programme_text():
    """SR-24, SR-26: the board restarts (a new App on the same flash): the programme, the
    link's read-back text and the lockout come back; the restart warning is raised."""
    app, hal, flash = programmed()
    app.link.current = b'{"mode": "continuous"}'
    run(app, hal, 30)
    assert app.pump.request_patient_bolus(app.pump.now_s) == codes.OK
    app.commanded()
    run(app, hal, 30)
    steps = app.pump.steps
    again, hal2, _ = boot(flash)
    pump = again.pump
    assert pump.prog is not None and pump.delivering()
    assert pump.steps >= steps
    assert A_RESTARTED in pump.alarms.table
    assert again.link.current == b'{"mode": "continuous"}'
    assert pump.request_patient_bolus(pump.now_s) == codes.R_LOCKOUT


def test_a_hung_task_stops_the_watchdog_feed(monkeypatch):
    """SR-30: the supervisor feeds the watchdog only while every task checks in; when the
    control task hangs the feeding stops, so the hardware watchdog resets the board (and the
    restart comes back from the checkpoint, as above)."""
    import asyncio
    from pumpapp import app as app_module
    monkeypatch.setattr(asyncio, "sleep_ms", lambda ms: asyncio.sleep(ms / 1000),
                        raising=False)
    app, hal, _ = programmed()
    hal.watchdog_ms = 40
    fed = []
    hal.feed_watchdog = lambda: fed.append(hal.ms)
    hung = []

    async def tasks():
        while True:
            for bit in (app_module._CONTROL, app_module._LINK, app_module._ANNUNCIATE,
                        app_module._INPUTS):
                if not (hung and bit == app_module._CONTROL):
                    app.checkin(bit)
            await asyncio.sleep(0.002)

    async def scenario():
        sup = asyncio.ensure_future(app.supervise())
        work = asyncio.ensure_future(tasks())
        await asyncio.sleep(0.2)
        before = len(fed)
        hung.append(True)                     # the control task stops checking in
        await asyncio.sleep(0.05)
        at_hang = len(fed)
        await asyncio.sleep(0.2)
        sup.cancel()
        work.cancel()
        return before, at_hang, len(fed)

    before, at_hang, after = asyncio.run(scenario())
    assert before >= 5                        # fed while all tasks run
    assert after == at_hang                   # then never again


def test_a_command_is_answered_only_after_its_checkpoint_is_written():
    """SR-24: the ack of a command that changed the pump leaves only once the checkpoint
    holding the change is on the flash (a power cut in between loses the command, and the host,
    told nothing, reports that it may not have acted)."""
    from pumpwire import frame
    app, hal, flash = programmed()
    run(app, hal, 5)
    hal.order.clear()
    app.received(frame.pack_signed("stop", 1, b"k" * 32, CLINICIAN, 1, device=b"t"))
    assert app.pump.suspended
    assert hal.order.index("answer") > max(i for i, w in enumerate(hal.order)
                                           if w.startswith("state."))
    assert hal.order.index("answer") > hal.order.index("ctr.a")


def test_answers_are_dropped_when_the_checkpoint_cannot_be_written():
    """SR-24, SR-29: a command acted on but not stored gets no answer (the host reports that
    it may not have acted), never an ack a restart could contradict."""
    from pumpwire import frame
    app, hal, flash = programmed()
    run(app, hal, 5)
    hal.written.clear()
    flash.broken, flash.only = True, "state."   # room for the counters, not the checkpoint
    app.received(frame.pack_signed("stop", 1, b"k" * 32, CLINICIAN, 1, device=b"t"))
    assert hal.written == []
    assert app.pump.alarms.table[A_STORAGE].condition
