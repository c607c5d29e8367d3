"""SR-21 for the real boards' layers themselves (firmware/pumphw/rp2.py and esp32.py), which
cannot run here: the real modules, over stand-ins for the RP2040's PIO (cycle by cycle) and
the ESP32's RMT (tests/fakes), driven by the application's own control step (pumpapp.App) and
the real dosing core, with the control loop waking late by a varying amount each second and
the feeder task running every millisecond. Every STEP pulse is one the core was told of,
delivery stays within 2 steps of the exact integral, a stop leaves no pulse after it, and no
two steps come closer than the motor's top speed."""
import importlib
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "core"))

from corekit import HOUR, board, continuous, patient  # noqa: E402


_MODULES = ("rp2", "esp32", "machine", "pumphw.rp2", "pumphw.esp32", "pumphw.bootwdt",
            "pumphw.boardhal")


class _Clock:
    """time.ticks_us / ticks_diff on the stand-ins' shared clock."""

    def __init__(self, now):
        self.now = now

    def ticks_us(self):
        return self.now[0]

    def ticks_diff(self, a, b):
        return a - b

    def ticks_add(self, a, b):
        return a + b


@pytest.fixture(params=["rp2", "esp32"])
def rp2_layer(request, monkeypatch):
    monkeypatch.syspath_prepend(os.path.join(ROOT, "tests", "fakes"))
    for name in _MODULES:
        sys.modules.pop(name, None)
    fake = importlib.import_module("rp2")
    layer = importlib.import_module("pumphw." + request.param)
    if request.param == "esp32":
        monkeypatch.setattr(layer, "time", _Clock(fake.NOW))
    yield fake, layer
    for name in _MODULES:
        sys.modules.pop(name, None)


def _pulses(motor):
    return (motor._sm if hasattr(motor, "_sm") else motor._rmt).pulses


class _Hw:
    pins = {"step": 2, "dir": 3, "enable": 4}
    eri_mv = 0
    stall_steps = 10 ** 6
    watchdog_ms = 5000


class _Hal:
    """Only what App.step / commanded touch: the real rp2 Motor and a fake clock."""

    def __init__(self, motor, clock):
        from pumpsim.faults import SimFlash
        from pumphw.store import FRESH, FileStore
        self.motor = motor
        self.clock = clock
        flash = SimFlash()
        flash.write(FRESH, b"")                 # a newly flashed board
        self.store = FileStore(flash)

    def ticks_ms(self):
        return self.clock[0] // 1000 & ((1 << 30) - 1)

    def rtc_s(self):
        return None


def _run(fake, layer, programme, seconds, work_ms=(0, 3, 17, 40), press_at=(), stop_at=None):
    from pumpapp.app import App
    from pumpwire.auth import CLINICIAN
    brd = board()
    clock = fake.NOW
    clock[0] = 0
    motor = layer.Motor(_Hw(), brd)
    app = App(_Hal(motor, clock), brd, _Hw(), {CLINICIAN: b"k" * 32}, "t")
    pump = app.pump
    pump.refill(0, 0, 0, 40_000_000)
    assert pump.program(0, programme) is None
    app.commanded()
    t_us, k, stopped_pulses = 0, 0, None
    presses = list(press_at)
    while t_us < seconds * 1_000_000:
        clock[0] = t_us
        app.step()
        s = pump.now_s
        if presses and s >= presses[0]:
            presses.pop(0)
            pump.request_patient_bolus(s)
            app.commanded()
        if stop_at is not None and s >= stop_at and not pump.suspended:
            pump.stop(s)
            app.commanded()
            stopped_pulses = len(_pulses(motor))
        # the control task sleeps to the next second; it wakes late by a varying amount
        wake = t_us + app._due_ms() * 1000 + work_ms[k % len(work_ms)] * 1000
        k += 1
        t = t_us + 1000
        while t < wake:                       # the feeder task, every millisecond
            clock[0] = t
            motor.feed()
            t += 1000
        t_us = wake
    clock[0] = t_us
    app.step()
    # pulsed after the last second's boundary: told with the next plan
    pending = motor._account.pending(motor.pulsed())
    assert 0 <= pending <= 40
    pulses = _pulses(motor)
    return pump, pulses[:len(pulses) - pending], stopped_pulses


def _exact(pump):
    i = pump.integral
    return i.whole + i.num / i.den


def test_basal_pulses_are_exactly_what_the_core_was_told(rp2_layer):
    fake, layer = rp2_layer
    for rate, conc in ((4000, 10), (1000, 100), (2100, 2000)):
        pump, pulses, _ = _run(fake, layer, continuous(rate=rate, conc=conc,
                                                       cap=rate + 500), 300)
        assert len(pulses) == pump.steps, (rate, conc)
        assert abs(pump.steps - _exact(pump)) < 2, (rate, pump.steps, _exact(pump))


def test_bolus_steps_then_a_stop_leaves_no_pulse_after_it(rp2_layer):
    fake, layer = rp2_layer
    prog = continuous(rate=1000, conc=100, cap=4000,
                      patient_bolus=patient(amount=200, duration_min=5, max_ug_per_hour=200))
    pump, pulses, _ = _run(fake, layer, prog, 600, press_at=(30,))
    assert len(pulses) == pump.steps and abs(pump.steps - _exact(pump)) < 2
    pump, pulses, at_stop = _run(fake, layer, prog, 200, press_at=(30,), stop_at=90)
    assert len(pulses) == pump.steps and at_stop is not None
    assert len(pulses) == at_stop                      # nothing after the stop


def test_steps_never_come_closer_than_the_motor_allows(rp2_layer):
    fake, layer = rp2_layer
    prog = continuous(rate=1000, conc=100, cap=4000,
                      patient_bolus=patient(amount=200, duration_min=1, max_ug_per_hour=200))
    pump, pulses, _ = _run(fake, layer, prog, 120, press_at=(10,))
    gaps = [b - a for a, b in zip(pulses, pulses[1:])]
    assert min(gaps) >= 1000000 // board().max_steps_per_s - 1
    assert HOUR > 0
