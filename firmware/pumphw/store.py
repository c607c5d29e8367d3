# What a board keeps on its filesystem between resets, each in pumphw.slots' two CRC-checked
# slots, so a power cut in the middle of a write leaves the previous record: the link's replay
# counters (ctr.a, ctr.b; written before a command acts) and the pump's checkpoint (state.a,
# state.b; written before the motor gets a plan, pump.checkpoint). `pumpctl flash` leaves a
# FRESH marker: the first boot starts an empty pump and removes it; from then on, state that is
# missing or fails its checks is lost state (an rp2 reformats a flash it cannot mount, which
# looks like a new board but is not). Counter slots present but none valid raise: the counters
# are never silently reset to zero (which would let recorded commands be replayed).
import json
import os

from pumphw.slots import SlotStore

FRESH = "fresh"
COUNTERS = ("ctr.a", "ctr.b")
STATE = ("state.a", "state.b")


class Files:
    """The board's own filesystem (littlefs: a file written and closed is replaced whole)."""

    def read(self, name):
        try:
            with open(name, "rb") as f:
                return f.read()
        except OSError:
            return None

    def write(self, name, data):
        with open(name, "wb") as f:
            f.write(data)

    def remove(self, name):
        try:
            os.remove(name)
        except OSError:
            pass


class FileStore:
    def __init__(self, fs=None):
        self.fs = fs or Files()
        self._counters = SlotStore(self.fs, COUNTERS)
        self.state = SlotStore(self.fs, STATE)
        self._marker = None          # the FRESH marker: None until looked for

    def load_counters(self):
        data = self._counters.load()
        if data is None:
            if self._counters.found:
                raise ValueError("stored counters are corrupt: no slot checks")
            for name in STATE:       # the first firmware kept its counters there
                old = self.fs.read(name)
                if old is not None and old[:5] == b"OITB\x01":
                    raise ValueError("counters from an older firmware (" + name + "): "
                                     "provision the pump again (new keys)")
            return None              # a new board: nothing stored yet
        return json.loads(data)

    def save_counters(self, high_water):
        self._counters.save(json.dumps(list(high_water)).encode())

    def load_state(self):
        """The newest checkpoint's bytes, or None; then `self.state.found` / `.doubt` say
        whether state was lost, and fresh() whether this is a newly flashed board."""
        return self.state.load()

    def fresh(self):
        if self._marker is None:
            self._marker = self.fs.read(FRESH) is not None
        return self._marker

    def save_state(self, payload):
        self.state.save(payload)
        if self.fresh():
            self.fs.remove(FRESH)    # the board has state of its own from now on
            self._marker = False
