# Exact rational arithmetic for delivery: rates as num/den steps per second and the programmed
# integral as whole steps plus a fraction. MicroPython has no fractions module and no math.gcd,
# so this is the small part of both that the core needs. Runs once per event (never per step);
# numerators may outgrow 30 bits, so it can allocate long ints: keep it out of interrupts.


def gcd(a, b):
    """Greatest common divisor of two non-negative ints (Euclid)."""
    while b:
        a, b = b, a % b
    return a


def reduce(num, den):
    """num/den in lowest terms, den > 0."""
    g = gcd(num, den)
    if g > 1:
        return num // g, den // g
    return num, den


def add(n1, d1, n2, d2):
    """n1/d1 + n2/d2, reduced."""
    if d1 == d2:
        return reduce(n1 + n2, d1)
    return reduce(n1 * d2 + n2 * d1, d1 * d2)


def ceil_div(a, b):
    """Ceiling of a/b for b > 0."""
    return -((-a) // b)


class Integral:
    """The exact programmed delivery, in motor steps: whole + num/den, 0 <= num < den.

    Advancing at a rate rn/rd steps per second for dt seconds is exact, so the steps due at any
    instant are `whole` and cumulative error against the motor never exceeds one step, whatever
    the programme or duration (the Bresenham idea with a rational increment).
    """

    def __init__(self):
        self.whole = 0
        self.num = 0
        self.den = 1

    def advance(self, rn, rd, dt):
        """Move on dt seconds at rn/rd steps per second."""
        if rn == 0 or dt == 0:
            return
        n = self.num * rd + rn * dt * self.den
        d = self.den * rd
        q, r = divmod(n, d)
        self.whole += q
        self.num, self.den = reduce(r, d)

    def whole_after(self, rn, rd, dt):
        """Whole steps due after dt more seconds at rn/rd, without moving."""
        return self.whole + (self.num * rd + rn * dt * self.den) // (self.den * rd)

    def seconds_until(self, k, rn, rd):
        """(num, den) seconds until the integral reaches whole step k (k > whole, rn > 0)."""
        return reduce(((k - self.whole) * self.den - self.num) * rd, self.den * rn)

    def set_whole(self, k):
        """Pin the integral to exactly k steps (delivery stopped at step k)."""
        self.whole = k
        self.num = 0
        self.den = 1
