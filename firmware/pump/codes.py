# Every number that leaves the core as a decision or a record: bolus kinds, refusal reasons,
# alarm codes and priorities, event-log codes. Integers on the wire and in the log; pump.names
# turns them back into words for people (kept apart so a board need not load the words).
# Constants only; no allocation after import.
try:
    from micropython import const
except ImportError:
    def const(x):
        return x

# Modes of a programme.
MODE_STOPPED = const(0)
MODE_CONTINUOUS = const(1)
MODE_FLEX = const(2)
MODE_BOLUS = const(3)
MODE_NAMES = ("stopped", "continuous", "flex", "bolus")

# Bolus kinds.
BOLUS_CLINICIAN = const(0)
BOLUS_PRIMING = const(1)
BOLUS_BRIDGE = const(2)
BOLUS_PERIODIC = const(3)
BOLUS_PATIENT = const(4)
BOLUS_SINGLE = const(5)

# Why a request was refused (0 means accepted).
OK = const(0)
R_STOPPED = const(1)
R_NOT_PROGRAMMED = const(2)
R_LOCKOUT = const(3)
R_COUNT_24H = const(4)
R_UG_PER_HOUR = const(5)
R_UG_24H = const(6)
R_RATE = const(7)
R_RESERVOIR = const(8)
R_TOO_MANY = const(9)
R_AMOUNT = const(10)
R_DURATION = const(11)
R_CRITICAL_ALARM = const(12)
R_CONCENTRATION = const(13)
R_VOLUME = const(14)
R_MISSED = const(15)

# Alarm priorities: critical stops delivery, warning does not, test only sounds.
P_TEST = const(0)
P_WARNING = const(1)
P_CRITICAL = const(2)

# Alarm codes; ALARM_PRIORITY gives each one's priority.
A_LOW_RESERVOIR = const(1)
A_EMPTY_RESERVOIR = const(2)
A_REFILL_DISCREPANCY = const(3)
A_TEST = const(4)
A_MOTOR_STALL = const(5)      # the board layer's stall / occlusion evidence
A_BATTERY_ERI = const(6)      # battery at its elective replacement threshold
A_BATTERY_EOS = const(7)      # battery at end of service
A_SYSTEM_FAULT = const(8)     # the firmware's last-resort handler ran (now or before a reset)
A_RESTARTED = const(9)        # the pump restarted and restored its state (worst case assumed)
A_MEMORY = const(10)          # stored state lost or corrupt: delivery stopped, reprogram
A_STORAGE = const(11)         # a state write failed: delivery stopped until one succeeds
A_CLOCK = const(12)           # the clock jumped, went back or stalled
A_LINK_FLOOD = const(13)      # the link is flooded: bytes dropped
A_TIME_UNKNOWN = const(14)    # a restart lost the time of day: lowest basal until it is known
ALARM_PRIORITY = (P_TEST, P_WARNING, P_CRITICAL, P_WARNING, P_TEST, P_CRITICAL, P_WARNING,
                  P_CRITICAL, P_CRITICAL, P_WARNING, P_CRITICAL, P_CRITICAL, P_WARNING,
                  P_WARNING, P_WARNING)

# Event-log codes. The two numbers after each say what the event carries (see docs/dosing.md).
E_PROGRAMME = const(1)       # mode, daily dose ug
E_PROGRAMME_REJECTED = const(2)  # 0, 0
E_BOLUS_START = const(3)     # kind, dose ug
E_BOLUS_REFUSED = const(4)   # kind, reason
E_BOLUS_END = const(5)       # kind, dose ug
E_BOLUS_ABORTED = const(6)   # kind, seconds it had run
E_ALARM = const(7)           # alarm code, priority
E_ALARM_ACK = const(8)       # alarm code, 0
E_ALARM_CLEAR = const(9)     # alarm code, 0
E_ALARM_SILENCE = const(10)  # alarm code, until (s)
E_REFILL = const(11)         # added nL, discrepancy nL (signed)
E_STOP = const(12)           # 0, 0
E_RESUME = const(13)         # 0, 0
E_REFILL_REJECTED = const(14)  # added nL, aspirated nL (a volume out of range)
E_TIME_SYNC = const(15)      # new wall_base_s, change from the old one (s)
E_FAULT = const(16)          # 0, 0: a fault recorded before the last reset, announced at boot
E_RESTORED = const(17)       # steps counted since the checkpoint, s moved on (-1: unknown)
E_STATE_LOST = const(18)     # 0, 0: no stored state checks whole: started empty and stopped
