# Bounded event log: a ring of the last N records, each (seq, t_s, code, a, b). seq counts every
# event ever logged, so a reader (the simulator, the link's log streaming) resumes from the seq it
# saw last and can tell when the ring overwrote records it never read. One tuple per record;
# never called from an interrupt.


class EventLog:
    def __init__(self, size):
        self._ring = [None] * size
        self.seq = 0
        self._floor = 0          # no record below this number is held (pump.snapshot)

    def add(self, t_s, code, a=0, b=0):
        self._ring[self.seq % len(self._ring)] = (self.seq, t_s, code, a, b)
        self.seq += 1

    def oldest(self):
        """The number of the oldest record the ring still holds."""
        return max(self._floor, self.seq - len(self._ring))

    def since(self, seq):
        """Records numbered seq or later that the ring still holds, oldest first."""
        first = max(seq, self.oldest())
        ring = self._ring
        return [ring[i % len(ring)] for i in range(first, self.seq)]
