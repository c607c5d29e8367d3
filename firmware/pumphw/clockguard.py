# Guards the pump clock against a misbehaving tick counter (SR-27). The app reads ticks_ms at
# each control step (about once a second, sooner after a command or a button press) and hands
# ticks.diff(now, last) to advance(), which returns the milliseconds the pump clock may move.
# Faults, each latched in `fault` (bit flags, 0: none) until clear(), and counted:
#   JUMP      the difference is above max_step_ms: more than the loop could have slept. The
#             control task sleeps at most ~1 s, and a loop blocked longer than watchdog_ms is
#             reset by the watchdog, so a bigger step is a counter that leapt (a glitch, a
#             corrupted read, a HAL bug), not elapsed time. The clock advances by jump_ms
#             (default 0, at most max_step_ms).
#   BACKWARD  the difference is negative: ticks went back. The clock advances by 0. A step
#             back of up to max_step_ms is owed (in all, up to max_step_ms): the next forward
#             steps repay it before the clock moves again, so a counter that flickers back and
#             forth moves the clock only as far as its highest read (the app takes each read as
#             its new reference, whichever way it went). A step back further than that is a
#             counter that restarted, or the true count after a read far ahead: owing it would
#             stop the clock for as long, so the count is taken from there (a re-sync).
#   STALL     the difference is 0 on stall_reads consecutive reads while the loop keeps
#             running: ticks stopped. Legitimate reads within one millisecond (a burst of
#             link chunks, each a step) are a handful; the default of 100 is far above that.
# Why this is safe: the pump clock must never run faster than real time could. One ahead would
# slide the 24 h dose windows and end a bolus lockout early; one behind makes them last longer
# and delivers later, the safe side. No read moves the clock by more than max_step_ms, and a
# JUMP by no more than jump_ms. jump_ms is 0 by default: a counter that keeps leaping does so at
# every read, and reads come as fast as link bytes do, so even max_step_ms per faulty read could
# run the clock many times too fast, while 0 only holds it (a second or so lost per glitch;
# delivery pauses if the fault persists). The app raises a warning alarm while `fault` is set.
# Choose max_step_ms at least watchdog_ms plus the control period (a loop blocked just short of
# a watchdog reset, then read after a full sleep, is real time), multiplied by the speed on the
# virtual board (host scheduling jitter is scaled too); too small a value only lags and warns.
# Not caught here: a counter running steadily fast or slow (a wrong divider) in steps below
# max_step_ms looks like time; that needs a second, independent clock.
# A stall mostly stops everything on its own: asyncio's sleep_ms waits on ticks, so the control
# and input tasks and the watchdog supervisor stop waking, the watchdog is no longer fed, and
# the hardware watchdog, counting on its own clock, resets the board. STALL catches what stays
# running (a task woken by link bytes, as on boards whose stdin is awaitable). Caveat: on an
# RP2040 the watchdog's tick generator also drives the timer behind ticks_ms (both from
# clk_ref), so a stopped reference stops both; there this count is the remaining detector.
# Pure logic, called from a task (not an interrupt); advance() allocates nothing for the small
# ints ticks.diff returns.
try:
    from micropython import const
except ImportError:
    def const(x):
        return x

NONE = const(0)
JUMP = const(1)         # a step forward above max_step_ms: advanced by jump_ms only
BACKWARD = const(2)     # ticks went back: advanced by 0
STALL = const(4)        # ticks unchanged on stall_reads consecutive reads


class ClockGuard:
    def __init__(self, max_step_ms=5000, stall_reads=100, jump_ms=0):
        """max_step_ms: the largest step (ms) taken as real time, 1 .. 2**29 - 1.
        stall_reads: consecutive unchanged reads (>= 2) that make a STALL.
        jump_ms: what a JUMP advances the clock by (ms), 0 .. max_step_ms."""
        if not (0 < max_step_ms < 1 << 29 and stall_reads >= 2 and 0 <= jump_ms <= max_step_ms):
            raise ValueError("clock guard limits")
        self.max_step_ms = max_step_ms
        self.jump_ms = jump_ms
        self.stall_reads = stall_reads
        self.fault = NONE           # JUMP | BACKWARD | STALL seen since the last clear()
        self.jumps = 0              # how many of each, since boot
        self.backwards = 0
        self.stalls = 0             # runs of stall_reads unchanged reads (each run once)
        self._same = 0              # consecutive reads without change, up to stall_reads
        self._owed_ms = 0           # steps back not yet repaid by steps forward, <= max_step_ms

    def advance(self, diff_ms):
        """ticks.diff(now, last) of this read; returns the ms the pump clock may advance:
        diff_ms less what a step back still owes, jump_ms for a jump, 0 for a backward step
        or no change."""
        if diff_ms > 0:
            self._same = 0
            if diff_ms > self.max_step_ms:
                self.fault |= JUMP
                self.jumps += 1
                return self.jump_ms
            owed = self._owed_ms
            if owed:
                if owed >= diff_ms:
                    self._owed_ms = owed - diff_ms
                    return 0
                self._owed_ms = 0
                return diff_ms - owed
            return diff_ms
        if diff_ms < 0:
            self._same = 0
            self.fault |= BACKWARD
            self.backwards += 1
            if diff_ms >= -self.max_step_ms:
                owed = self._owed_ms - diff_ms  # both at most max_step_ms: a small int
                self._owed_ms = owed if owed < self.max_step_ms else self.max_step_ms
            return 0
        if self._same < self.stall_reads:
            self._same += 1
            if self._same == self.stall_reads:
                self.fault |= STALL
                self.stalls += 1
        return 0

    def clear(self):
        """The warning was dealt with: forget the latched faults (the counters stay)."""
        self.fault = NONE
