# Compiled-in hard limits: the outer of the three limit layers (hard, clinician programme,
# per-request). No programme or request can go past these, whatever the board or clinician says.
# Pure constants; no allocation at run time (const() folds them into the bytecode on MicroPython).
try:
    from micropython import const
except ImportError:
    def const(x):
        return x

# Drug. Commercial intrathecal baclofen is 50-2000 ug/mL; compounded solutions reach 4000.
MIN_CONC_UG_PER_ML = const(10)
MAX_CONC_UG_PER_ML = const(4000)
# Highest dose rate and highest 24 h total (basal + all boluses). Reported ITB doses in dystonia
# exceed 2000 ug/day of basal plus boluses; 6000 leaves room for that and no more.
MAX_UG_PER_DAY = const(6000)
MAX_BOLUS_UG = const(1500)
MIN_BOLUS_S = const(60)
MAX_BOLUS_S = const(86400)

# Patient-activated bolus.
MIN_LOCKOUT_S = const(900)
MAX_PATIENT_PER_24H = const(24)

# Reservoir thresholds (nL). Low alarm programmable 1-10 mL, default 2 mL; empty default 1 mL.
MIN_LOW_NL = const(1000000)
MAX_LOW_NL = const(10000000)
DEFAULT_LOW_NL = const(2000000)
DEFAULT_EMPTY_NL = const(1000000)
# Never run the estimate down to nothing: a small model error would then pump air.
MIN_EMPTY_NL = const(100000)
MAX_CATHETER_NL = const(2000000)
DEFAULT_REFILL_TOLERANCE_NL = const(1000000)

# Flex schedule shape.
MAX_CYCLE_DAYS = const(7)
MAX_DAY_STEPS = const(48)
MAX_PERIODIC = const(8)

# Controller.
MAX_ACTIVE_BOLUSES = const(4)
SILENCE_S = const(600)
ALARM_TEST_S = const(6)
DAY_S = const(86400)
HOUR_S = const(3600)
