# What a board keeps on its filesystem between resets (so far: the link's replay counters;
# the therapy state comes with issue 5), in pumphw.slots' two CRC-checked slots, so a power
# cut in the middle of a write leaves the previous record. Slot files present but none valid
# is corrupt storage: it raises, and the counters are never silently reset to zero (which
# would let recorded commands be replayed).
import json

from pumphw.slots import SLOTS, SlotStore


class _Files:
    def read(self, name):
        try:
            with open(name, "rb") as f:
                return f.read()
        except OSError:
            return None

    def write(self, name, data):
        with open(name, "wb") as f:
            f.write(data)


class FileStore:
    def __init__(self, fs=None):
        self._fs = fs or _Files()
        self._slots = SlotStore(self._fs)

    def load_counters(self):
        data = self._slots.load()
        if data is None:
            for name in SLOTS:
                if self._fs.read(name) is not None:
                    raise ValueError("stored state is corrupt: no slot checks")
            return None              # a new board: nothing stored yet
        return json.loads(data)

    def save_counters(self, high_water):
        self._slots.save(json.dumps(list(high_water)).encode())
