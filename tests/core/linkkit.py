# A pump behind its link, driven frame by frame as a host would, for the link tests (both
# interpreters): signs commands with the role's key and counter, decodes every reply.
import json
import struct

from corekit import Rig
from pumpwire.auth import CLINICIAN, PATIENT
from pumpwire.frame import Parser, pack, pack_signed
from pumpwire.messages import BY_ID, BY_NAME
from pumplink.link import Link

DEVICE = "test-pump"
KEYS = {PATIENT: b"patient-key-0123456789abcdef0123",
        CLINICIAN: b"clinician-key-0123456789abcdef01"}


def compact(d):
    return json.dumps(d, separators=(",", ":")).encode()


class FailingStore:
    def __init__(self):
        self.fail = False
        self.saved = None

    def save_counters(self, hw):
        if self.fail:
            raise OSError(28)
        self.saved = list(hw)


class LinkRig(Rig):
    def __init__(self, programme=None, **kw):
        Rig.__init__(self, programme, **kw)
        self.store = FailingStore()
        self.link = Link(self.pump, dict(KEYS), DEVICE, self.store,
                         programme_text=compact(programme) if programme else b"")
        self.out = []
        self.session = self.link.session(self._rx_bytes)
        self._host = Parser(self._rx_frame)
        self.seq = 0
        self.counter = {PATIENT: 0, CLINICIAN: 0}

    def _rx_bytes(self, data):
        self._host.feed(data)

    def _rx_frame(self, msg_id, flags, seq, payload):
        m = BY_ID[msg_id]
        values = struct.unpack(m[2], payload)
        self.out.append((m[1], seq, flags, dict(zip(m[3], values))))

    def raw(self, frame):
        """Feed a frame; returns the replies it drew."""
        self.out = []
        self.session.feed(frame)
        return self.out

    def ask(self, name, *values):
        self.seq += 1
        return self.raw(pack(name, self.seq, *values))

    def cmd(self, name, *values, role=CLINICIAN, key=None, counter=None):
        """A signed command; returns the replies."""
        self.seq += 1
        if counter is None:
            self.counter[role] += 1
            counter = self.counter[role]
        return self.raw(pack_signed(name, self.seq, key or KEYS[role], role, counter, *values,
                                    device=DEVICE))

    def last(self, name, *values, role=CLINICIAN):
        """Send a signed command and return its single reply as (name, fields)."""
        got = self.cmd(name, *values, role=role)
        return got[-1][0], got[-1][3]

    def state(self):
        """What therapy looks like from outside, to prove a refused command changed nothing."""
        p = self.pump
        return (p.prog, p.suspended, p.reservoir_nl, len(p.boluses), p.last_patient_s,
                sorted(p.alarms.table), p.log.seq, p.plan.steps, p.plan.rate_num)

    def stage(self, text, role=CLINICIAN):
        """Send text in chunks; returns the replies to the last chunk."""
        got = None
        for off in range(0, len(text), 128):
            chunk = text[off:off + 128]
            got = self.cmd("programme_stage", off, len(text), len(chunk), chunk, role=role)
        return got


def names(got):
    return [g[0] for g in got]


def reason(got):
    return got[-1][3]["reason"] if got[-1][0] == "nak" else 0


def short(name):
    return BY_NAME[name][0]
