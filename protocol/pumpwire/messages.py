# The message table: the one definition both ends use. Each entry is
# (id, name, struct format of the payload (little-endian), field names, who may send it).
# At import each entry gains its fingerprint and payload size:
# (id, name, fmt, fields, senders, fingerprint, size).
# Each message's fingerprint (like MAVLink's CRC_EXTRA) is a byte derived from its name, layout
# and field names, folded into the frame CRC: two ends built from different definitions reject
# each other's frames instead of misreading fields. Issue 3 grows this table; the codec is
# already general. Data only; built once at import.
import struct

from pumpwire.auth import CLINICIAN, PATIENT, READ
from pumpwire.crc import crc32

# Who may send: the pump itself, or a host in one of the roles of pumpwire.auth (commands that
# change therapy need that role's key: issue 3).
PUMP = -1

MESSAGES = (
    (1, "hello", "<HII16s", ("protocol", "schema", "firmware", "board"), (PUMP, READ)),
    (2, "ack", "<HB", ("ack_seq", "code"), (PUMP,)),
    (3, "nak", "<HB", ("nak_seq", "reason"), (PUMP,)),
    (4, "status", "<IBBBIIII",
     ("time_s", "mode", "delivering", "alarm_bits", "reservoir_nl", "lockout_s", "forecast_s",
      "steps"), (PUMP,)),
    (5, "log_record", "<IIBii", ("seq", "time_s", "code", "a", "b"), (PUMP,)),
    (6, "patient_bolus", "<", (), (PATIENT, CLINICIAN)),
)


def _fingerprint(name, fmt, fields):
    text = name + " " + fmt + " " + " ".join(fields)
    return crc32(text.encode()) & 0xFF


BY_ID = {}
BY_NAME = {}
for _m in MESSAGES:
    _entry = _m + (_fingerprint(_m[1], _m[2], _m[3]), struct.calcsize(_m[2]))
    BY_ID[_m[0]] = _entry
    BY_NAME[_m[1]] = _entry

# The whole table's fingerprint, exchanged in hello.
SCHEMA = crc32(b"".join(bytes((e[5],)) + e[1].encode() for e in
                        (BY_ID[k] for k in sorted(BY_ID))))
