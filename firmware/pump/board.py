# What the dosing core needs to know of the hardware: motor calibration, its top speed, the
# reservoir size and the pump's internal tubing volume. Pins and drivers belong to the board
# layer; this is the part that changes doses. Parsed from a plain dict (TOML on the host, JSON on
# the board); allocation only at parse time.
from pump import fields, limits

_KEYS = ("name", "nl_per_step", "max_steps_per_s", "reservoir_nl", "tubing_volume_nl")
_LIMITS = ("max_ug_per_day", "max_bolus_ug", "max_conc_ug_per_ml")


class Board:
    def __init__(self, name, nl_per_step, max_steps_per_s, reservoir_nl, tubing_volume_nl):
        self.name = name
        self.nl_per_step = nl_per_step
        self.max_steps_per_s = max_steps_per_s
        self.reservoir_nl = reservoir_nl
        self.tubing_volume_nl = tubing_volume_nl
        # The board's own limits: the compiled hard limits, or tighter ones from its file.
        self.max_ug_per_day = limits.MAX_UG_PER_DAY
        self.max_bolus_ug = limits.MAX_BOLUS_UG
        self.max_conc_ug_per_ml = limits.MAX_CONC_UG_PER_ML


def parse_board(d, board_limits=None):
    """(Board, None) or (None, (field, reason)) from the [motor] table of a board file and its
    optional [limits] table, which may only tighten the compiled hard limits."""
    try:
        fields.only(d, _KEYS, "motor.")
        name = d.get("name", "unnamed")
        if not isinstance(name, str):
            raise fields.Invalid("motor.name", "must be a string")
        b = Board(
            name,
            fields.integer(d, "nl_per_step", 1, 100000, prefix="motor."),
            fields.integer(d, "max_steps_per_s", 1, 20000, prefix="motor."),
            fields.integer(d, "reservoir_nl", 1000000, 100000000, prefix="motor."),
            fields.integer(d, "tubing_volume_nl", 0, 1000000, 0, prefix="motor."),
        )
        if board_limits is not None:
            if not isinstance(board_limits, dict):
                raise fields.Invalid("limits", "must be a table")
            fields.only(board_limits, _LIMITS, "limits.")
            b.max_ug_per_day = fields.integer(board_limits, "max_ug_per_day", 1,
                                              limits.MAX_UG_PER_DAY, b.max_ug_per_day,
                                              "limits.")
            b.max_bolus_ug = fields.integer(board_limits, "max_bolus_ug", 1, limits.MAX_BOLUS_UG,
                                            b.max_bolus_ug, "limits.")
            b.max_conc_ug_per_ml = fields.integer(
                board_limits, "max_conc_ug_per_ml", limits.MIN_CONC_UG_PER_ML,
                limits.MAX_CONC_UG_PER_ML, b.max_conc_ug_per_ml, "limits.")
        return b, None
    except fields.Invalid as e:
        return None, (e.field, e.reason)
