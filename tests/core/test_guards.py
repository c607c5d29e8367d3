# Fault detection on the board layer (issue 5): the pump clock guarded against a tick counter
# that jumps, steps back or stalls (pumphw.clockguard, SR-27), and the link guarded against a
# flood of bytes (pumphw.flood, SR-28). Both interpreters.
from pumphw import ticks
from pumphw.clockguard import BACKWARD, JUMP, NONE, STALL, ClockGuard
from pumphw.flood import FloodGuard

NEAR_WRAP = ticks.PERIOD - 700


class _AppClock:
    """The app's pump clock as App.now_s keeps it: each read becomes the new reference,
    whichever way it went; the guard decides how far the pump clock moves."""

    def __init__(self, guard, t0):
        self.guard = guard
        self.t = t0
        self.ms = 0

    def read(self, t):
        self.ms += self.guard.advance(ticks.diff(t, self.t))
        self.t = t
        return self.ms


def _rand(state):
    """A small LCG (the same sequence on both interpreters): (next state, 0 .. 65535)."""
    state = (state * 1103515245 + 12345) & 0x7FFFFFFF
    return state, state >> 15


# ---- the clock guard (SR-27) ----

def test_good_steps_move_the_clock_by_real_time_across_the_wrap():
    """SR-27: steps the loop really slept (sooner after commands, ~1 s otherwise, up to
    max_step_ms) pass unchanged, across the tick wrap, with no fault."""
    c = _AppClock(ClockGuard(max_step_ms=5000), NEAR_WRAP)
    t = NEAR_WRAP
    real = 0
    for step in (1001, 3, 998, 1, 250, 5000, 1001, 4999):
        t = ticks.add(t, step)
        real += step
        assert c.read(t) == real
    assert real > 700                                  # the counter wrapped on the way
    g = c.guard
    assert g.fault == NONE and g.jumps == g.backwards == g.stalls == 0


def test_a_jump_is_flagged_latched_and_does_not_run_the_clock_ahead():
    """SR-27: a step above max_step_ms is a counter that leapt, not time: JUMP, latched until
    clear(); the clock moves by jump_ms (0 unless configured, never above max_step_ms)."""
    g = ClockGuard(max_step_ms=5000)
    assert g.advance(5001) == 0 and g.fault == JUMP and g.jumps == 1
    assert g.advance(1000) == 1000 and g.fault == JUMP       # latched
    assert g.advance(ticks.PERIOD // 2 - 1) == 0 and g.jumps == 2
    g.clear()
    assert g.fault == NONE and g.jumps == 2                  # counters stay
    assert g.advance(1000) == 1000 and g.fault == NONE
    clamp = ClockGuard(max_step_ms=5000, jump_ms=5000)       # the clamp, if chosen
    assert clamp.advance(3600000) == 5000 and clamp.fault == JUMP


def test_a_step_back_is_flagged_and_repaid_before_the_clock_moves():
    """SR-27: ticks going back: BACKWARD, the clock stands still, and the step back is repaid
    by the next forward steps, so the clock ends where the counter's highest read was."""
    c = _AppClock(ClockGuard(max_step_ms=5000), 1000)
    assert c.read(2000) == 1000
    assert c.read(1700) == 1000 and c.guard.fault == BACKWARD and c.guard.backwards == 1
    assert c.read(1900) == 1000                              # 200 of the 300 repaid
    assert c.read(2500) == 1500                              # the rest, then time again
    assert c.read(3500) == 2500
    assert c.guard.fault == BACKWARD
    c.guard.clear()
    assert c.guard.fault == NONE


def test_faults_combine_as_bits():
    g = ClockGuard(max_step_ms=5000, stall_reads=3)
    g.advance(-1)
    g.advance(99999)
    for _ in range(3):
        g.advance(0)
    assert g.fault == BACKWARD | JUMP | STALL
    assert (g.jumps, g.backwards, g.stalls) == (1, 1, 1)


def test_one_far_glitch_either_way_costs_two_steps_and_never_gains():
    """SR-27: one read an hour ahead (or behind), then the true counter again: JUMP and
    BACKWARD flagged, the clock holds for the glitched read and the one after it (the count
    is re-synced, not owed), never ahead of real time."""
    for glitch in (3600000, -3600000):
        c = _AppClock(ClockGuard(max_step_ms=5000), NEAR_WRAP)
        t = NEAR_WRAP
        real = 0
        for i in range(20):
            t = ticks.add(t, 1000)
            real += 1000
            c.read(ticks.add(t, glitch) if i == 5 else t)
            assert c.ms <= real
        assert real - c.ms == 2000
        assert c.guard.jumps == 1 and c.guard.backwards == 1


def test_a_counter_that_restarts_costs_one_step():
    """SR-27: the counter starts again from 0 (a timer re-initialised): BACKWARD, one step
    lost, then time again from there."""
    c = _AppClock(ClockGuard(max_step_ms=5000), 0)
    for t in range(1000, 100001, 1000):
        c.read(t)
    for t in range(0, 10001, 1000):
        c.read(t)
    assert c.ms == 100000 + 10000 and c.guard.fault == BACKWARD


def test_a_flickering_counter_moves_the_clock_to_its_highest_read_only():
    """SR-27: reads off the true count by up to 2 s either way, 1..1000 ms apart: every step
    back is repaid first, so the pump clock is always exactly the highest read so far (at
    most 2 s ahead, however long it goes on), never the sum of the flicker."""
    a = 2000
    c = _AppClock(ClockGuard(max_step_ms=5000), NEAR_WRAP)
    real = 0
    high = 0
    state = 11
    for _ in range(5000):
        state, r = _rand(state)
        real += 1 + r % 1000
        state, r = _rand(state)
        off = r % (2 * a + 1) - a
        c.read(ticks.add(NEAR_WRAP, real + off))
        high = max(high, real + off)
        assert c.ms == high
    assert c.guard.backwards > 1000 and c.guard.jumps == 0


def test_a_misbehaving_counter_moves_the_clock_by_bounded_steps_then_recovers():
    """SR-27: a counter that reads a little or far ahead or behind at random: no read moves the
    clock more than max_step_ms, both faults are flagged, and once the counter reads true
    again the clock follows real time exactly."""
    m = 5000
    c = _AppClock(ClockGuard(max_step_ms=m), NEAR_WRAP)
    t = NEAR_WRAP
    state = 7
    for _ in range(3000):
        state, r = _rand(state)
        t = ticks.add(t, 1 + r % 1000)
        state, r = _rand(state)
        kind = r % 8
        state, r = _rand(state)
        if kind == 0:
            read = ticks.add(t, 1 + r % m)                   # a little ahead
        elif kind == 1:
            read = ticks.add(t, -(1 + r % m))                # a little behind
        elif kind == 2:
            read = ticks.add(t, m + (r + 1) * 97)            # far ahead
        elif kind == 3:
            read = ticks.add(t, -m - (r + 1) * 97)           # far behind
        else:
            read = t
        before = c.ms
        c.read(read)
        assert 0 <= c.ms - before <= m
    assert c.guard.fault & (JUMP | BACKWARD) == JUMP | BACKWARD
    for _ in range(20):                                      # true again: owed repaid, then
        t = ticks.add(t, 1000)                               # real time
        c.read(t)
    before = c.ms
    for _ in range(100):
        t = ticks.add(t, 1000)
        c.read(t)
    assert c.ms - before == 100000


def test_a_stalled_counter_is_flagged_once_per_run():
    """SR-27: the counter unchanged on stall_reads consecutive reads while the loop runs:
    STALL once for the run; the next run counts again."""
    g = ClockGuard(stall_reads=100)
    for _ in range(99):
        assert g.advance(0) == 0
    assert g.fault == NONE
    assert g.advance(0) == 0 and g.fault == STALL and g.stalls == 1
    for _ in range(500):
        g.advance(0)
    assert g.stalls == 1
    g.clear()
    assert g.advance(1) == 1 and g.fault == NONE
    for _ in range(100):
        g.advance(0)
    assert g.fault == STALL and g.stalls == 2


def test_many_reads_within_a_millisecond_are_no_stall():
    """SR-27: a burst of link chunks, each a control step within the same millisecond, is not
    a stalled counter."""
    g = ClockGuard(stall_reads=100)
    total = 0
    for _ in range(1000):
        for _ in range(20):
            total += g.advance(0)
        total += g.advance(1)
    assert g.fault == NONE and total == 1000


def test_clock_guard_limits_are_checked():
    for args in ((0, 100, 0), (1 << 29, 100, 0), (5000, 1, 0), (5000, 100, 5001),
                 (5000, 100, -1)):
        try:
            ClockGuard(*args)
        except ValueError:
            continue
        raise AssertionError("accepted " + repr(args))


# ---- the flood guard (SR-28) ----

def test_the_burst_then_the_rate():
    """SR-28: a full bucket admits burst_bytes at once; after that rate_bps, the rest of each
    chunk dropped and counted."""
    g = FloodGuard(rate_bps=4096, burst_bytes=8192)
    assert g.admit(256, 0) == 256 and not g.flooding
    assert g.admit(10000, 0) == 7936
    assert g.dropped == 2064 and g.flooding and g.floods == 1
    assert g.admit(256, 0) == 0 and g.dropped == 2320
    assert g.admit(10000, 1000) == 4096                  # one second: rate_bps
    assert g.admit(10000, 1500) == 2048
    assert g.floods == 1                                  # one episode


def test_fractions_of_a_byte_are_never_lost_or_made():
    """SR-28: integer arithmetic in thousandths of a byte: a byte a millisecond at 4096 bytes
    per second admits exactly 4096 bytes a second, no more."""
    g = FloodGuard(rate_bps=4096, burst_bytes=8192)
    g.admit(8192, 0)
    got = 0
    for ms in range(1, 10001):
        got += g.admit(5, ms)
    assert got == 40960
    g = FloodGuard(rate_bps=3, burst_bytes=10)
    g.admit(10, 0)
    assert sum([g.admit(1, ms) for ms in range(1, 1001)]) == 3


def test_flooding_clears_after_a_quiet_spell():
    """SR-28: `flooding` stays true while bytes are dropped and for quiet_ms after the last
    drop; admit() and poll() both clear it, so an alarm ends even if the sender falls silent."""
    g = FloodGuard(rate_bps=1000, burst_bytes=1000, quiet_ms=10000)
    assert g.admit(1500, 0) == 1000 and g.flooding
    assert g.admit(10, 5000) == 10 and g.flooding         # within the rate, but not quiet yet
    assert g.poll(9999)
    assert not g.poll(10000)                              # 10 s since the last drop
    assert g.admit(3000, 11000) == 1000 and g.flooding and g.floods == 2
    assert g.admit(10, 20999) == 10 and g.flooding
    assert g.admit(10, 21000) == 10 and not g.flooding
    assert g.dropped == 500 + 2000


def test_long_idle_fills_the_bucket_no_further_and_a_clock_going_back_earns_nothing():
    """SR-28: after a day of silence the bucket is full (burst_bytes), not more; a pump clock
    that went back (it should not) earns no bytes."""
    g = FloodGuard(rate_bps=4096, burst_bytes=8192)
    g.admit(8192, 0)
    assert g.admit(100000, 86400000) == 8192
    assert g.admit(100, 86399000) == 0                    # earlier than the last call
    assert g.admit(100, 86399001) == 4                    # counting from there, 1 ms
    big = FloodGuard(rate_bps=262144, burst_bytes=262144)
    assert big.admit(1 << 20, 0) == 262144
    assert big.admit(1 << 20, 999) == 261881              # 999 ms x 262.144 bytes
    assert big.admit(1 << 20, 1 << 29) == 262144


def test_the_dropped_count_saturates():
    g = FloodGuard(rate_bps=1, burst_bytes=1)
    g.dropped = (1 << 30) - 10
    g.admit(100, 0)
    assert g.dropped == (1 << 30) - 1
    g.admit(100, 0)
    assert g.dropped == (1 << 30) - 1


def test_flood_guard_limits_are_checked():
    for args in ((0, 100), (4096, 0), (262145, 100), (4096, 262145), (4096, 100, -1)):
        try:
            FloodGuard(*args)
        except ValueError:
            continue
        raise AssertionError("accepted " + repr(args))


def _upload_frames(text, key, counter0, seq0):
    """A host's programme_stage frames for text, signed as a clinician, as sent on the wire."""
    from linkkit import DEVICE
    from pumpwire.auth import CLINICIAN
    from pumpwire.frame import pack_signed
    frames = []
    n = 0
    for off in range(0, len(text), 128):
        chunk = text[off:off + 128]
        n += 1
        frames.append(pack_signed("programme_stage", seq0 + n, key, CLINICIAN, counter0 + n,
                                  off, len(text), len(chunk), chunk, device=DEVICE))
    return frames


def _text(n):
    """n bytes of JSON-like programme text."""
    body = b'{"mode":"flex","steps":[' + b'{"t_min":0,"rate_ug_per_h":25},' * (n // 31 + 1)
    return body[:n - 2] + b"]}"


def test_a_full_programme_upload_is_never_throttled():
    """SR-28: a legitimate host waits for the ack of each frame, so its biggest exchange is one
    programme upload: the longest text the pump stages (pumplink.link.MAX_TEXT), 64 signed
    frames, fits the default burst even with acks coming back at once; so does a
    typical 7-day flex (37 frames of at most 200 bytes) in a burst of 8192; and a second full
    upload passes once the bucket has refilled (burst_bytes / rate_bps seconds)."""
    from linkkit import KEYS
    from pumplink.link import MAX_TEXT
    from pumpwire.auth import CLINICIAN
    from pumpwire.frame import pack
    from pumpwire.messages import SCHEMA
    frames = [pack("hello_request", 1, 2, SCHEMA), pack("status_request", 2)] + \
        _upload_frames(_text(MAX_TEXT), KEYS[CLINICIAN], 0, 2)
    total = sum([len(f) for f in frames])
    assert len(frames) == 66 and max([len(f) for f in frames]) <= 200
    g = FloodGuard()
    assert g.burst_bytes >= total
    for f in frames:
        assert g.admit(len(f), 0) == len(f)
    assert g.dropped == 0 and not g.flooding
    again = g.burst_bytes * 1000 // g.rate_bps
    for f in frames:
        assert g.admit(len(f), again) == len(f)
    assert g.dropped == 0 and not g.flooding
    typical = FloodGuard(rate_bps=4096, burst_bytes=8192)
    for _ in range(37):
        assert typical.admit(200, 0) == 200
    assert typical.dropped == 0 and not typical.flooding


def test_an_upload_through_the_guard_reaches_the_link_whole():
    """SR-28: the bytes the guard admits, fed to a real link session at the pace of instant
    acks, draw an ack for every chunk and programme_check for the last: nothing was cut."""
    from linkkit import KEYS, LinkRig
    from pumplink.link import MAX_TEXT
    from pumpwire.auth import CLINICIAN
    r = LinkRig()
    g = FloodGuard()
    text = _text(MAX_TEXT)
    replies = []
    for f in _upload_frames(text, KEYS[CLINICIAN], r.counter[CLINICIAN], r.seq):
        n = g.admit(len(f), 0)
        replies += r.raw(f[:n])
    assert [name for name, _, _, _ in replies] == ["ack"] * 63 + ["programme_check"]
    assert replies[62][3]["value"] == MAX_TEXT - 128
    assert g.dropped == 0


def test_a_flood_is_cut_to_the_rate():
    """SR-28: a sender pouring 256-byte chunks every 2 ms (128 kB/s) for a minute gets
    burst_bytes plus rate_bps per second through; the rest is dropped and counted."""
    g = FloodGuard(rate_bps=4096, burst_bytes=16384)
    got = 0
    sent = 0
    for ms in range(0, 60000, 2):
        got += g.admit(256, ms)
        sent += 256
    assert 16384 + 4096 * 59 <= got <= 16384 + 4096 * 60
    assert g.dropped == sent - got and g.flooding and g.floods == 1
    assert g.poll(59998 + 9999) and not g.poll(59998 + 10000)


# ---- both, with the heap locked ----

def test_the_guards_allocate_nothing():
    """advance() and admit()/poll() through every branch with the heap locked: no MemoryError.
    MicroPython only (CPython has no heap lock)."""
    try:
        from micropython import heap_lock, heap_unlock
    except ImportError:
        return
    c = ClockGuard(max_step_ms=5000, stall_reads=5)
    f = FloodGuard(rate_bps=4096, burst_bytes=16384, quiet_ms=1000)
    heap_lock()
    try:
        for i in range(200):
            c.advance(1000)
            c.advance(-300)                   # back, owed
            c.advance(100)                    # repaid in part
            c.advance(400)                    # repaid, then time
            c.advance(ticks.PERIOD // 2 - 1)  # jump
            for _ in range(7):
                c.advance(0)                  # stall
            c.clear()
            now = i * 50
            f.admit(256, now)
            f.admit(20000, now)               # dropped
            f.admit(10, now - 1)              # clock back
            f.poll(now + 10000)               # quiet: cleared
            f.admit(0, now + 10000000)        # long idle: full
    finally:
        heap_unlock()
    assert c.jumps == 200 and c.backwards == 200 and c.stalls == 200
    assert f.floods >= 1 and f.dropped > 0
