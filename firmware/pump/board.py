# What the dosing core needs to know of the hardware: motor calibration, its top speed, the
# reservoir size and the pump's internal tubing volume. Pins and drivers belong to the board
# layer; this is the part that changes doses. Parsed from a plain dict (TOML on the host, JSON on
# the board); allocation only at parse time.
from pump import fields

_KEYS = ("name", "nl_per_step", "max_steps_per_s", "reservoir_nl", "tubing_volume_nl")


class Board:
    def __init__(self, name, nl_per_step, max_steps_per_s, reservoir_nl, tubing_volume_nl):
        self.name = name
        self.nl_per_step = nl_per_step
        self.max_steps_per_s = max_steps_per_s
        self.reservoir_nl = reservoir_nl
        self.tubing_volume_nl = tubing_volume_nl


def parse_board(d):
    """(Board, None) or (None, (field, reason)) from the [motor] table of a board file."""
    try:
        fields.only(d, _KEYS, "motor.")
        name = d.get("name", "unnamed")
        if not isinstance(name, str):
            raise fields.Invalid("motor.name", "must be a string")
        return Board(
            name,
            fields.integer(d, "nl_per_step", 1, 100000, prefix="motor."),
            fields.integer(d, "max_steps_per_s", 1, 20000, prefix="motor."),
            fields.integer(d, "reservoir_nl", 1000000, 100000000, prefix="motor."),
            fields.integer(d, "tubing_volume_nl", 0, 1000000, 0, prefix="motor."),
        ), None
    except fields.Invalid as e:
        return None, (e.field, e.reason)
