# Millisecond ticks as a board counts them: modulo 2**30, so differences must wrap. The same
# arithmetic as MicroPython's time.ticks_add / ticks_diff on every board port; the pure board
# logic uses it so it runs (and is tested) anywhere, and the virtual board's clock wraps like a
# board's. No allocation for small ints.
PERIOD = 1 << 30
_MASK = PERIOD - 1
_HALF = PERIOD >> 1


def add(t, delta):
    return (t + delta) & _MASK


def diff(a, b):
    """a - b, correct across one wrap, in -2**29 .. 2**29 - 1."""
    return ((a - b + _HALF) & _MASK) - _HALF
