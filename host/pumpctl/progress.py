"""Progress on stderr for long host jobs (a simulation, a campaign): work done of a total and
the time left, as one bar redrawn in place on a terminal, otherwise a plain line at each of
`lines` steps, so logs stay short. Nothing is shown for work done within `after_s` seconds."""
import sys
import time


class Progress:
    def __init__(self, total, label, describe, stream=None, after_s=0.0, lines=4):
        """describe(done) -> the work done in words ("8/30 simulated days")."""
        self.total = total
        self.label = label
        self.describe = describe
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.after_s = after_s
        self.lines = lines
        self.t0 = time.monotonic()
        self._last = 0.0
        self._step = 0            # plain lines: the last step shown
        self._drawn = False       # terminal: a bar is on the line

    def update(self, done, note="", final=False):
        now = time.monotonic()
        if now - self.t0 < self.after_s and not self._drawn and self._step == 0:
            return                              # quick work stays quiet
        spent = now - self.t0
        left = spent / done * (self.total - done) if done else 0
        text = f"{self.describe(done)}{note}, {_dur(spent)} spent, {_dur(left)} left"
        if self.tty:
            if final or now - self._last >= 0.2:
                width = 30
                fill = width * min(done, self.total) // self.total
                self.stream.write(f"\r[{'#' * fill}{'.' * (width - fill)}] {text}\033[K")
                self.stream.flush()
                self._drawn = True
                self._last = now
        else:
            step = self.lines * done // self.total
            if step > self._step or (final and self._step < self.lines):
                self._step = max(step, self.lines if final else step)
                print(f"{self.label}: {text}", file=self.stream, flush=True)

    def close(self, done=None, note=""):
        """The work ended (or failed): a last update, and the bar's line finished."""
        if done is not None:
            self.update(done, note, final=True)
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


def _dur(s):
    s = int(s)
    return f"{s // 3600}h{s // 60 % 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"
