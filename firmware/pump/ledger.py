# The drug actually delivered over the last day, for the rolling 24 h cap: a cumulative total in
# pg (nL x ug/mL) with a point wherever the delivery rate changed. In between, a plan issues its
# steps evenly, so the total grows linearly; where it stopped early, the linear reading only
# over-counts the window, which errs safe. One small tuple per rate change, a day's worth kept.
from pump.limits import DAY_S


class DoseLedger:
    def __init__(self, now_s):
        self.total_pg = 0
        self.points = [(now_s, 0)]

    def add(self, pg):
        self.total_pg += pg

    def mark(self, now_s):
        """The rate may change from now_s: pin a point, and forget what is a day old."""
        pts = self.points
        if pts[-1][0] == now_s:
            pts[-1] = (now_s, self.total_pg)
        else:
            pts.append((now_s, self.total_pg))
        while len(pts) > 2 and pts[1][0] <= now_s - DAY_S:
            pts.pop(0)

    def since(self, s, now_s):
        """pg delivered from s to now_s, as the line between points reads it: over-counted
        where delivery stopped early, under-counted by at most one motor step of drug."""
        pts = self.points
        if s <= pts[0][0]:
            return self.total_pg - pts[0][1]
        i = len(pts) - 1
        while pts[i][0] > s:
            i -= 1
        t0, c0 = pts[i]
        if i + 1 < len(pts):
            t1, c1 = pts[i + 1]
        else:
            t1, c1 = now_s, self.total_pg
        if t1 <= t0:
            return self.total_pg - c0
        return self.total_pg - (c0 + (c1 - c0) * (s - t0) // (t1 - t0))
