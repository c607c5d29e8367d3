# The drug actually delivered over the last day, for the rolling 24 h cap: a cumulative total in
# pg (nL x ug/mL) with a point wherever the delivery rate changed. In between, a plan issues its
# steps evenly, so the total grows linearly; where it stopped early, the linear reading only
# over-counts the window, which errs safe. Points live in a preallocated ring (two int lists),
# so marking allocates no list and the ledger never grows: when the ring is full, the two oldest
# points merge in the safe direction.
from pump.limits import DAY_S


class DoseLedger:
    def __init__(self, now_s, size=48):
        self.total_pg = 0
        self._t = [now_s] * size
        self._c = [0] * size
        self._first = 0
        self.count = 1

    def add(self, pg):
        self.total_pg += pg

    def mark(self, now_s):
        """The rate may change from now_s: pin a point, and forget what is a day old."""
        size = len(self._t)
        last = (self._first + self.count - 1) % size
        if self._t[last] == now_s:
            self._c[last] = self.total_pg
            return
        while self.count > 1 and self._t[(self._first + 1) % size] <= now_s - DAY_S:
            self._drop_first()
        if self.count == size:
            # Full: the oldest point takes the second's time, keeping its own (lower) total.
            # Reading before that time counts everything since the oldest point, and the line
            # after it starts lower: both over-count, never under-count.
            second = (self._first + 1) % size
            self._c[second] = self._c[self._first]
            self._drop_first()
        i = (self._first + self.count) % size
        self._t[i] = now_s
        self._c[i] = self.total_pg
        self.count += 1

    def _drop_first(self):
        self._first = (self._first + 1) % len(self._t)
        self.count -= 1

    def each_time(self, visit):
        """Call visit(t) for every point's time, oldest first."""
        for k in range(self.count):
            visit(self._t[(self._first + k) % len(self._t)])

    def since(self, s, now_s):
        """pg delivered from s to now_s, as the line between points reads it: over-counted
        where delivery stopped early, under-counted by at most one motor step of drug."""
        size = len(self._t)
        first = self._first
        if s <= self._t[first]:
            return self.total_pg - self._c[first]
        k = self.count - 1
        while self._t[(first + k) % size] > s:
            k -= 1
        i = (first + k) % size
        t0, c0 = self._t[i], self._c[i]
        if k + 1 < self.count:
            j = (first + k + 1) % size
            t1, c1 = self._t[j], self._c[j]
        else:
            t1, c1 = now_s, self.total_pg
        if t1 <= t0:
            return self.total_pg - c0
        return self.total_pg - (c0 + (c1 - c0) * (s - t0) // (t1 - t0))
