# Fault injection for the simulated board, all through the board layer's own interfaces: the
# flash the checkpoints live on (SimFlash: what pumphw.store reads and writes), power (a cut
# loses RAM; the board reboots and restores), the motor (stall, occlusion) and the board's
# clock. Nothing here is visible to the firmware except as the hardware misbehaving. Runs under
# CPython and the MicroPython unix port; integers only.

KINDS = ("power_cut", "cut_in_write", "flip", "stall", "occlusion")
# stall: the rotor cannot turn (a jammed head); occlusion: the line downstream is blocked
# (permille of the open line passing, default 0) or restricted (passing_nl_per_h); both last
# until `until`, if given, when the line clears (its stored volume then reaches the patient).


class PowerCut(Exception):
    """Power failed: everything in RAM is gone (raised out of a storage write)."""


class SimFlash:
    """The board's filesystem as pumphw.store sees it. atomic=True behaves like littlefs (a
    file written and closed is replaced whole, or not at all if power fails meanwhile);
    atomic=False like FAT (a cut leaves the bytes written so far). arm_cut(torn_at) makes the
    next write fail with a power cut, torn_at bytes in (atomic: the old content stays)."""

    def __init__(self, atomic=True):
        self.files = {}
        self.atomic = atomic
        self.writes = 0
        self.bytes_written = 0
        self._cut_at = None

    def read(self, name):
        return self.files.get(name)

    def write(self, name, data):
        if self._cut_at is not None:
            cut = self._cut_at
            self._cut_at = None
            if not self.atomic:
                self.files[name] = bytes(data[:cut % (len(data) + 1)])
            raise PowerCut()
        self.files[name] = bytes(data)
        self.writes += 1
        self.bytes_written += len(data)

    def remove(self, name):
        self.files.pop(name, None)

    def arm_cut(self, torn_at):
        self._cut_at = torn_at

    def flip(self, name, byte, mask):
        """Corrupt one stored byte (a bit error at rest); False if there is no such file."""
        data = self.files.get(name)
        if not data or mask & 0xFF == 0:
            return False
        b = bytearray(data)
        b[byte % len(b)] ^= mask & 0xFF
        self.files[name] = bytes(b)
        return True


def check_faults(faults, where="faults"):
    """The fault list of a scenario, each a dict with kind and at (seconds); raises ScenarioError
    with the field at fault."""
    from pumpsim.scenario import ScenarioError, seconds
    out = []
    for i, f in enumerate(faults):
        w = where + "[" + str(i) + "]"
        if not isinstance(f, dict) or f.get("kind") not in KINDS:
            raise ScenarioError(w + ".kind: must be one of " + ", ".join(KINDS))
        g = dict(f)
        g["at"] = seconds(f.get("at", 0), w + ".at")
        if "until" in f:
            g["until"] = seconds(f["until"], w + ".until")
        g["off_s"] = seconds(f.get("off", 5), w + ".off")
        if g["off_s"] < 1:
            raise ScenarioError(w + ".off: a board takes at least a second to restart")
        if f.get("when", "now") not in ("now", "next"):
            raise ScenarioError(w + ".when: 'now' or 'next'")
        g["rtc"] = f.get("rtc", "lost")
        if g["rtc"] not in ("kept", "lost"):
            raise ScenarioError(w + ".rtc: 'kept' or 'lost'")
        out.append(g)
        if "until" in g and g["kind"] in ("stall", "occlusion"):
            out.append({"kind": "clear", "at": g["until"]})
    out.sort(key=lambda g: g["at"])
    return out
