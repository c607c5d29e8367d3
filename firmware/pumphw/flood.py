# Link flood guard (SR-28): a token bucket in bytes that decides how much of each chunk read
# from the link the parser may handle, so a babbling or hostile sender cannot take the CPU
# from the control loop (every byte costs parser time, every frame with a good CRC an HMAC).
# The bucket holds up to burst_bytes and refills at rate_bps bytes per second of the pump
# clock; admit(n, now_ms) returns how many of the chunk's first bytes to feed; the rest are
# dropped and counted in `dropped` (what was cut mid-frame fails its CRC, and the parser
# resynchronises at the next delimiter). `flooding` turns true when bytes are dropped and back
# to false after quiet_ms with nothing dropped, checked at each admit() and poll(): the app
# raises a warning alarm while it is true (call poll() from the control step too, or the
# alarm would wait for the next byte to clear).
# Sizing. A legitimate host is never throttled: it waits for the pump's ack of each frame, and
# its largest exchange is a programme upload, at most pumplink.link.MAX_TEXT (8192) bytes of
# text in 128-byte programme_stage frames: 64 signed frames of ~170 bytes on the wire (~200
# with escapes), ~11 kB. The default burst of 16384 bytes holds a whole upload however fast
# the host's acks come back, and refills in 4 s; a typical 7-day flex programme (~4.6 kB,
# 37 frames, under 7.4 kB) even fits a burst of 8192. The default rate, 4096 bytes/s (about a
# third of a 115200 baud line), bounds the parser's work under a flood, once the burst is spent.
# Integers only: the bucket is counted in thousandths of a byte (rate_bps per ms), and the
# refill is capped before multiplying, so every value stays a small int. now_ms is any
# monotonic count of ms (never wrapping; plain differences), normally the pump clock; while
# pumphw.clockguard holds that clock after a fault the bucket does not refill, so a count
# that keeps following ticks (without the hold) keeps the link usable then. Called from the
# link task, not an interrupt; admit() and poll() allocate nothing while now_ms is a small int
# (below 2**30: the first 12 days after boot on a 32-bit port; then the subtraction allocates).
try:
    from micropython import const
except ImportError:
    def const(x):
        return x

_MAX = const(262144)            # largest rate_bps and burst_bytes: the sums stay small ints
_COUNT_MAX = const(1073741823)  # 2**30 - 1: `dropped` saturates here, never a big int


class FloodGuard:
    def __init__(self, rate_bps=4096, burst_bytes=16384, quiet_ms=10000, now_ms=0):
        """rate_bps: sustained bytes per second admitted, 1 .. 262144. burst_bytes: the
        bucket, bytes admitted at once after a quiet spell, 1 .. 262144. quiet_ms: time with
        nothing dropped before `flooding` clears. now_ms: the pump clock now; the bucket
        starts full."""
        if not (0 < rate_bps <= _MAX and 0 < burst_bytes <= _MAX and quiet_ms >= 0):
            raise ValueError("flood guard limits")
        self.rate_bps = rate_bps
        self.burst_bytes = burst_bytes
        self.quiet_ms = quiet_ms
        self._cap = burst_bytes * 1000                       # in thousandths of a byte
        self._fill_ms = (self._cap + rate_bps - 1) // rate_bps   # empty to full
        self._level = self._cap
        self._last_ms = now_ms
        self._drop_ms = now_ms
        self.dropped = 0             # bytes dropped since boot (saturating)
        self.floods = 0              # times `flooding` turned true
        self.flooding = False

    def admit(self, n_bytes, now_ms):
        """n_bytes arrived at now_ms (pump ms); returns how many of them (the first ones)
        the link may handle now. The others are dropped."""
        elapsed = now_ms - self._last_ms
        if elapsed > 0:
            self._last_ms = now_ms
            if elapsed >= self._fill_ms:
                self._level = self._cap
            else:
                level = self._level + elapsed * self.rate_bps
                self._level = level if level < self._cap else self._cap
        elif elapsed < 0:
            self._last_ms = now_ms     # a clock that went back earns nothing
        n = self._level // 1000
        if n > n_bytes:
            n = n_bytes
        self._level -= n * 1000
        drop = n_bytes - n
        if drop > 0:
            self._drop_ms = now_ms
            room = _COUNT_MAX - self.dropped
            self.dropped = self.dropped + drop if drop < room else _COUNT_MAX
            if not self.flooding:
                self.flooding = True
                self.floods += 1
        elif self.flooding and now_ms - self._drop_ms >= self.quiet_ms:
            self.flooding = False
        return n

    def poll(self, now_ms):
        """No bytes, just time passing: refills, and clears `flooding` after quiet_ms.
        Returns `flooding`."""
        self.admit(0, now_ms)
        return self.flooding
