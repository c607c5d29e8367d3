# Why the link refused a command, in a nak's `reason` byte. Codes below 32 are the dosing core's
# refusal reasons (pump.codes R_*); these start at 32 so one byte carries both.
try:
    from micropython import const
except ImportError:
    def const(x):
        return x

FIRST = const(32)
N_AUTH_REQUIRED = const(32)   # a command that changes the pump came unsigned
N_BAD_TAG = const(33)         # forged, corrupted, or signed with another key
N_REPLAY = const(34)          # counter not above the last one accepted for that role
N_NO_KEY = const(35)          # the pump holds no key for that role
N_ROLE = const(36)            # that role may not send this command
N_BAD_VALUE = const(37)       # a field out of range
N_NOT_STAGED = const(38)      # commit or review with no complete staged programme
N_CRC = const(39)             # commit quoted a CRC other than the staged programme's
N_PROGRAMME = const(40)       # the programme is invalid (programme_check says why)
N_TOO_LARGE = const(41)       # programme text longer than the pump holds
N_STORAGE = const(42)         # could not persist what the command needs kept; not done
N_CHUNK = const(43)           # a staging chunk out of order
N_NO_ALARM = const(44)        # no such alarm to acknowledge
N_COUNTER = const(45)         # counter more than auth.MAX_JUMP above the last one accepted

NAMES = ("auth_required", "bad_tag", "replay", "no_key", "role", "bad_value",
         "not_staged", "crc_mismatch", "programme_invalid", "too_large", "storage",
         "chunk_out_of_order", "no_such_alarm", "counter_jump")
