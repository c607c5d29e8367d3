# The board layer's logic that runs off the board (issue 4): tick arithmetic across the wrap,
# the patient button, tone patterns, battery ERI/EOS, stall counting. Both interpreters.
from pump.alarms import TONE_CRITICAL, TONE_NONE, TONE_WARNING
from pumphw import ticks
from pumphw.battery import EOS, ERI, OK, Battery
from pumphw.button import LONG_PRESS, NONE, Button
from pumphw.stall import StallDetector
from pumphw.tones import TonePlayer

NEAR_WRAP = ticks.PERIOD - 700


def test_ticks_wrap_like_a_board():
    assert ticks.add(ticks.PERIOD - 1, 1) == 0
    assert ticks.diff(5, ticks.PERIOD - 5) == 10
    assert ticks.diff(ticks.PERIOD - 5, 5) == -10
    assert ticks.diff(ticks.add(NEAR_WRAP, 123456), NEAR_WRAP) == 123456


def _press(b, t0, held_ms, step=10):
    """Level samples every `step` ms: pressed (0) for held_ms, then released."""
    events = []
    t = t0
    for _ in range(held_ms // step):
        events.append(b.update(0, t))
        t = ticks.add(t, step)
    for _ in range(10):
        events.append(b.update(1, t))
        t = ticks.add(t, step)
    return events, t


def test_long_press_requests_once_short_press_and_bounce_do_not():
    b = Button(debounce_ms=30, hold_ms=1500)
    t = NEAR_WRAP                                    # across the tick wrap
    b.update(1, t)
    events, t = _press(b, t, 1000)                   # a short press
    assert LONG_PRESS not in events
    for i in range(50):                              # contact bounce: 5 ms flips
        b.update(i % 2, ticks.add(t, i * 5))
    t = ticks.add(t, 300)
    events, t = _press(b, t, 4000)                   # a long press, held on
    assert events.count(LONG_PRESS) == 1
    assert set(events) <= {NONE, LONG_PRESS}


def test_tone_patterns_play_and_restart():
    p = TonePlayer()

    def at(pattern, t):
        left = p.update(pattern, t)
        return p.hz, left
    assert at(TONE_NONE, 0) == (0, 0)
    assert at(TONE_CRITICAL, NEAR_WRAP) == (880, 150)
    assert at(TONE_CRITICAL, ticks.add(NEAR_WRAP, 150)) == (0, 100)
    total = sum(on + off for _, on, off in TONE_CRITICAL)
    assert at(TONE_CRITICAL, ticks.add(NEAR_WRAP, total + 10)) == (880, 140)
    assert at(TONE_WARNING, 50000) == (660, 200)         # a new pattern starts at its top
    assert at(TONE_WARNING, 50000 + 1300) == (0, 9700)   # the long gap of the burst


def test_battery_eri_then_eos_with_hysteresis():
    bat = Battery(eri_mv=3500, eos_mv=3300, divider_num=2, divider_den=1)

    def raw(mv):
        return mv * 65535 // (2 * 3300)
    for _ in range(30):
        state = bat.update(raw(3800))
    assert state == OK and 3790 <= bat.mv <= 3800
    for _ in range(30):
        state = bat.update(raw(3480))
    assert state == ERI
    for _ in range(30):
        state = bat.update(raw(3520))                # inside the hysteresis band: stays
    assert state == ERI
    for _ in range(30):
        state = bat.update(raw(3280))
    assert state == EOS
    for _ in range(30):
        state = bat.update(raw(3320))
    assert state == EOS
    for _ in range(40):
        state = bat.update(raw(3600))
    assert state == OK


def test_stall_counts_steps_that_did_not_move_the_rotor():
    """SR-22: a stall is steps that did not turn the rotor, reported once per stall_steps."""
    s = StallDetector(stall_steps=320)
    assert not s.update(100, 100)
    assert not s.update(200, 0)                      # DIAG asserted for 200 steps
    assert not s.update(50, 50)                      # it turned again: evidence resets
    assert not s.update(300, 0)
    assert s.update(30, 0)                           # 330 steps without movement: once
    assert not s.update(300, 0)                      # counting again from there
    assert s.update(20, 0)


def test_stall_a_few_refused_cycles_in_a_row_are_enough_at_any_rate():
    """SR-22: `confirm` (3) cycles in a row that issued steps and moved none report a stall, at
    one step a cycle as at many: the volume criterion alone would wait 320 steps, three hours
    at 100 ug/day (docs/occlusion.md). Cycles that issue nothing are no evidence either way."""
    s = StallDetector(stall_steps=320)
    assert not s.update(1, 0)
    assert not s.update(0, 0)                        # between steps at a low rate
    assert not s.update(1, 0)
    assert not s.update(0, 0)
    assert s.update(1, 0) and s.last == 1            # the third refused step: once
    assert not s.update(1, 0) and not s.update(1, 0)
    assert s.update(1, 0)                            # still blocked after acknowledgement
    s = StallDetector(stall_steps=320)
    assert not s.update(21, 0) and not s.update(21, 0)
    assert s.update(21, 0) and s.last == 1           # a bolus: three cycles, 63 steps


def test_stall_one_glitch_or_an_encoder_lag_is_not_a_stall():
    """A DIAG glitch on one cycle in eight, or an encoder whose count of a step arrives in the
    next cycle (none issued there), never reports: the glitch is under a quarter of the window,
    and the late count pays its lag back."""
    s = StallDetector(stall_steps=320)
    for i in range(400):
        assert not s.update(1, 0 if i % 8 == 0 else 1)
    for i in range(400):
        assert not s.update(20, 0 if i % 8 == 3 else 20)
    for _ in range(400):
        assert not s.update(1, 0)                    # made just after the sample...
        assert not s.update(0, 1)                    # ...and counted in the next cycle


def test_stall_a_partial_occlusion_is_reported_from_the_window():
    """SR-22: a rotor making 60 % of its steps (an encoder on a partly occluded line) never has a
    blocked cycle; a quarter or more of the last 16 cycles' steps unmoved reports it, at the
    16th such cycle, before the volume criterion's 320 steps (40 cycles). DIAG asserted on
    every other cycle is reported the same way."""
    s = StallDetector(stall_steps=320)
    fired = [s.update(20, 12) for _ in range(40)]
    assert fired.index(True) == 15 and s.last == 3
    s = StallDetector(stall_steps=320)
    fired = [s.update(1, i % 2) for i in range(40)]
    assert fired.index(True) == 15 and s.last == 3
    s = StallDetector(stall_steps=320, confirm=0, window=0)   # the volume criterion alone
    fired = [s.update(20, 12) for _ in range(40)]
    assert fired.index(True) == 39 and s.last == 2
    s = StallDetector(stall_steps=320, confirm=0, window=0)
    assert True not in [s.update(1, i % 2) for i in range(400)]


def test_step_schedule_places_each_step_where_the_plan_does():
    """SR-21: the PIO/RMT delays put step j exactly where the core's plan (and the simulator's
    motor) puts it, never earlier, and stop after the plan's steps."""
    from pump.core import Plan
    from pumphw.steps import StepSchedule
    p = Plan()
    p.rate_num, p.rate_den = 70, 3               # 70/3 steps per second
    p.phase_num, p.phase_den = 1, 4              # a quarter step already accumulated
    p.steps = 5000
    s = StepSchedule()
    s.start(p, 0)
    t = 0
    times = []
    while True:
        d = s.next()
        if d is None:
            break
        t += d
        times.append(t)
    assert len(times) == 5000 and s.by(p.t0_s + 1) == 23   # 23.58 accumulate in 1 s
    for j, t_us in enumerate(times, 1):
        exact_num = (4 * j - 1) * 3 * 1000000     # (j - 1/4) / (70/3) s in us, times 280
        assert t_us * 280 >= exact_num and (t_us - 1) * 280 < exact_num
    s.start(p, 500, min_gap_us=300)              # loaded 0.5 s late: caught up at top speed
    first = [s.next() for _ in range(13)]
    assert first[:11] == [300] * 11 and first[12] > 300


def test_a_plan_reloaded_within_its_second_never_repeats_steps():
    """SR-21: a command within a second reloads the plan from the same t0: the steps the generator
    already issued since then count as the plan's first ones (no double delivery)."""
    from pump.core import Plan
    from pumphw.steps import StepSchedule
    p = Plan()
    p.rate_num, p.rate_den, p.steps = 3200, 1, 9600          # a bolus: 3200 steps/s
    a = StepSchedule()
    a.start(p, 0)
    issued = 0
    t = 0
    while t + 1 < 400000:                                     # 0.4 s of steps go out
        t += a.next()
        issued += 1
    b = StepSchedule()
    b.start(p, 400, already=issued)
    rest = 0
    while b.next() is not None:
        rest += 1
    assert issued + rest == 9600


def test_what_could_run_in_an_interrupt_allocates_nothing():
    """The button, stall and tone logic (callable from a pin or timer interrupt) run with
    the heap locked without MemoryError. MicroPython only (CPython has no heap lock)."""
    try:
        from micropython import heap_lock, heap_unlock
    except ImportError:
        return
    b = Button()
    s = StallDetector(320)
    p = TonePlayer()
    p.update(TONE_CRITICAL, 0)
    b.update(1, 0)
    heap_lock()
    try:
        t = NEAR_WRAP
        for i in range(200):
            t = ticks.add(t, 10)
            b.update(i // 100, t)
            s.update(5, 0)
            s.update(20, 12)
            s.update(0, 1)
            s.update(1, i % 2)
            p.update(TONE_CRITICAL, t)
    finally:
        heap_unlock()


def test_a_button_held_since_boot_asks_for_nothing():
    b = Button(debounce_ms=30, hold_ms=1500)
    events = [b.update(0, t * 10) for t in range(500)]        # stuck down from power-up
    assert LONG_PRESS not in events
    events, _ = _press(b, ticks.add(5000, 100), 10)            # released, then a real press
    events, _ = _press(b, 8000, 2000)
    assert events.count(LONG_PRESS) == 1


def test_one_bad_first_battery_reading_raises_nothing():
    bat = Battery(eri_mv=3500, eos_mv=3300, divider_num=2, divider_den=1)
    states = [bat.update(0)] + [bat.update(3800 * 65535 // 6600) for _ in range(20)]
    assert set(states) == {OK}
