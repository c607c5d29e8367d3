# Words for the numbers in pump.codes, for people: summaries, logs, the host. Indexed by code.
# The dosing core never imports this; a board loads it only if it prints.
BOLUS_NAMES = ("clinician", "priming", "bridge", "periodic", "patient", "single")
REASON_NAMES = ("ok", "stopped", "not_programmed", "lockout", "count_24h", "ug_per_hour",
                "ug_24h", "rate", "reservoir", "too_many", "amount", "duration",
                "critical_alarm", "concentration", "volume", "missed")
PRIORITY_NAMES = ("test", "warning", "critical")
ALARM_NAMES = ("", "low_reservoir", "empty_reservoir", "refill_discrepancy", "test",
               "motor_stall", "battery_eri", "battery_eos", "system_fault", "restarted",
               "memory", "storage", "clock", "link_flood", "time_unknown")
EVENT_NAMES = ("", "programme", "programme_rejected", "bolus_start", "bolus_refused",
               "bolus_end", "bolus_aborted", "alarm", "alarm_ack", "alarm_clear",
               "alarm_silence", "refill", "stop", "resume", "refill_rejected", "time_sync",
               "fault", "restored", "state_lost")
