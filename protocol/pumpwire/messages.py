# The message table: the one definition both ends use (docs/protocol.md is generated from it).
# Each entry is (id, name, struct format of the payload (little-endian), field names, who may
# send it, what it is for). At import each entry gains its fingerprint and payload size:
# (id, name, fmt, fields, senders, doc, fingerprint, size).
# Each message's fingerprint (like MAVLink's CRC_EXTRA) is a byte derived from its name, layout
# and field names, folded into the frame CRC: two ends built from different definitions reject
# each other's frames instead of misreading fields. Data only; built once at import.
#
# Conventions: a reply carries the sequence number of the request it answers; telemetry the pump
# pushes by itself carries FLAG_PUSH and the pump's own sequence. Times are pump-clock seconds
# (day 0 00:00 is 0; `wall_base_s` maps them to Unix time once a host has synced the clock).
# Signed time fields use -1 for "none". Text fields are UTF-8, zero-padded.
import struct

from pumpwire.auth import CLINICIAN, PATIENT, READ
from pumpwire.crc import crc32

# Who may send: the pump itself, or a host in one of the roles of pumpwire.auth. A message a
# host in role READ may send needs no key; any other host message carries an HMAC tag.
PUMP = -1
_ANY = (READ, PATIENT, CLINICIAN)
_C = (CLINICIAN,)

CHUNK = 128      # programme text bytes per frame
LOG_BATCH = 32   # most event records the pump sends for one log_request

# status.flags bits and status.tone values.
ST_DELIVERING = 1
ST_STOPPED = 2
ST_PROGRAMMED = 4
ST_STAGED = 8
ST_SILENCED = 16
ST_TIME_UNKNOWN = 32     # a restart lost the time of day: lowest basal until a time sync
TONE_OFF = 0
TONE_WARNING = 1
TONE_CRITICAL = 2

MESSAGES = (
    # -- handshake, replies
    (1, "hello_request", "<BI", ("protocol", "schema"), _ANY,
     "Host opens a session; the pump answers `hello`."),
    (2, "hello", "<BII16s16sIIII",
     ("protocol", "schema", "firmware", "board", "device", "patient_counter",
      "clinician_counter", "time_s", "wall_base_s"), (PUMP,),
     "Versions, board and device ids, and the highest command counter accepted per role "
     "(a host signs its next command with a higher one)."),
    (3, "ack", "<BI", ("msg", "value"), (PUMP,),
     "Command `msg` done; `value` is what it produced (dose µg, bytes staged, CRC, ...)."),
    (4, "nak", "<BBH", ("msg", "reason", "detail"), (PUMP,),
     "Command `msg` refused with a reason code (docs/protocol.md#reasons): it did not act."),
    # -- telemetry
    (5, "status_request", "<", (), _ANY, "Ask for one `status`."),
    (6, "status", "<IIBBHHBIIIiiiIIB",
     ("time_s", "wall_base_s", "mode", "flags", "alarm_bits", "unacked_bits", "tone",
      "basal_ug_per_day",
      "rate_nl_per_h", "reservoir_nl", "lockout_s", "next_bolus_s", "forecast_s", "steps",
      "log_seq", "boluses"), (PUMP,),
     "Mode, flags (ST_*), one bit per active alarm code and per alarm not yet acknowledged, the "
     "tone sounding (TONE_*), basal rate "
     "in force, motor rate now, reservoir estimate, lockout left (0: none), next periodic bolus, "
     "refill forecast (reservoir at its low threshold), steps issued, the number the next event "
     "will get, boluses running."),
    (7, "telemetry", "<H", ("period_s",), _ANY,
     "Push `status` every period_s seconds of pump time on this link (0 stops it)."),
    (8, "log_request", "<IB", ("from_seq", "max"), _ANY,
     "Stream up to `max` event records (0 or over LOG_BATCH: LOG_BATCH) numbered from_seq or "
     "later, then `log_end`."),
    (9, "log_record", "<IIBqq", ("seq", "time_s", "code", "a", "b"), (PUMP,),
     "One event (codes and their two numbers: docs/dosing.md)."),
    (10, "log_end", "<III", ("next_seq", "oldest_seq", "log_seq"), (PUMP,),
     "End of a log stream: resume from next_seq; records below oldest_seq were overwritten; "
     "log_seq is the number the next event will get (as in status)."),
    (11, "link_stats_request", "<", (), _ANY, "Ask for `link_stats`."),
    (12, "link_stats", "<IIIIIIIIII",
     ("ok", "bad_crc", "bad_length", "bad_version", "unknown", "overflow", "bad_auth",
      "replays", "denied", "ignored"), (PUMP,),
     "Frame counters of this link, the pump's authentication counters, and frames of "
     "pump-only messages dropped (an echoing line)."),
    # -- therapy commands
    (20, "patient_bolus", "<", (), (PATIENT, CLINICIAN),
     "The patient asks for the programmed patient bolus (every limit applies)."),
    (21, "bolus", "<HI", ("amount_ug", "duration_s"), _C, "Clinician single bolus."),
    (22, "priming", "<I", ("duration_s",), _C,
     "Prime the tubing and catheter (0: the default duration)."),
    (23, "bridge", "<", (), _C, "Bridge bolus after a concentration change."),
    (24, "stop", "<", (), _C, "Stop delivery."),
    (25, "resume", "<", (), _C, "Resume delivery."),
    (26, "refill", "<III", ("expected_nl", "aspirated_nl", "added_nl"), _C,
     "Record a refill: what was expected, aspirated and added."),
    (27, "alarm_ack", "<B", ("code",), _C,
     "Acknowledge one alarm by its code: a host acknowledges the alarms it has shown, one by "
     "one, never 'all' (an alarm raised meanwhile would be acknowledged unseen)."),
    (28, "alarm_silence", "<", (), _C, "Silence sounding alarms for 10 minutes."),
    (29, "alarm_test", "<", (), _C, "Sound each alarm tone."),
    (30, "time_sync", "<I", ("wall_s",), _C,
     "The host's Unix time now; the pump records wall_base_s (its dosing clock is not moved). "
     "After a restart that lost the clock it also moves the schedule on by the time the pump "
     "could not count, and ends the lowest-rate wait (docs/persistence.md)."),
    # -- two-phase programming
    (40, "programme_stage", "<HHB128s", ("offset", "total", "length", "data"), _C,
     "A chunk of the pending programme (JSON text, total bytes); offset 0 starts over. The "
     "last chunk gets `programme_check`, the others an ack of the bytes held."),
    (41, "programme_check", "<BIHI40s88s",
     ("reason", "crc", "total", "window_ug", "field", "why"), (PUMP,),
     "The staged programme checked: reason 0 and its CRC-32, or why it was refused. window_ug "
     "is the largest dose in any 24 h window holding the change if it came into force now "
     "(the last 24 h's delivery plus the new schedule), for the review."),
    (42, "programme_read", "<BH", ("which", "offset"), _ANY,
     "Read back a programme's text: which 0 is the one in force, 1 the staged one."),
    (43, "programme_data", "<BHHIB128s",
     ("which", "offset", "total", "crc", "length", "data"), (PUMP,),
     "A chunk of programme text, with the whole text's length and CRC-32."),
    (44, "programme_commit", "<I", ("crc",), _C,
     "Put the staged programme in force; crc must be the one the pump reported for it."),
    (45, "programme_discard", "<", (), _C, "Drop the staged programme."),
)


def _fingerprint(msg_id, name, fmt, fields, senders):
    """Everything two ends must agree on about a message: id, name, layout, field names and
    who may send it."""
    text = str(msg_id) + " " + name + " " + fmt + " " + " ".join(fields) + " " + \
        " ".join(str(r) for r in senders)
    return crc32(text.encode()) & 0xFF


BY_ID = {}
BY_NAME = {}
for _m in MESSAGES:
    _entry = _m + (_fingerprint(_m[0], _m[1], _m[2], _m[3], _m[4]), struct.calcsize(_m[2]))
    BY_ID[_m[0]] = _entry
    BY_NAME[_m[1]] = _entry

# The whole table's fingerprint, exchanged in hello.
SCHEMA = crc32(b"".join(bytes((e[6],)) + e[1].encode() for e in
                        (BY_ID[k] for k in sorted(BY_ID))))
