"""Reading scenario and board files (TOML) on the host. CPython only."""
import os
import tomllib

from pump.board import parse_board
from pumphw.config import parse_hardware
from pumpsim.engine import Simulation
from pumpsim.faults import check_faults
from pumpsim.scenario import ScenarioError

_HERE = os.path.dirname(os.path.abspath(__file__))


def read_toml(path):
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as e:
        raise ScenarioError(f"{path}: cannot read: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(f"{path}: not valid TOML: {e}") from None


def board_path(name, scenario_path):
    """A board named in a scenario: a path relative to it, or NAME looked up in the boards/
    folder beside the scenario's folder, or in ./boards."""
    base = os.path.dirname(os.path.abspath(scenario_path))
    candidates = [os.path.join(base, name)]
    if not name.endswith(".toml"):
        for root in (os.path.dirname(base), os.getcwd(), os.path.dirname(os.path.dirname(_HERE))):
            candidates.append(os.path.join(root, "boards", name + ".toml"))
    for c in candidates:
        if os.path.isfile(c):
            return c
    raise ScenarioError(f"board '{name}' not found (looked in: {', '.join(candidates)})")


def load_board(path):
    """The dosing calibration of a board file, after checking the whole file (pins, driver,
    battery) as `pumpctl flash` and the board itself do."""
    data = read_toml(path)
    _, err = parse_hardware(data)
    if err is not None:
        raise ScenarioError(f"{path}: {err[0]}: {err[1]}")
    motor = data.get("motor")
    if not isinstance(motor, dict):
        raise ScenarioError(f"{path}: needs a [motor] table")
    board, err = parse_board(motor, data.get("limits"))
    if err is not None:
        raise ScenarioError(f"{path}: {err[0]}: {err[1]}")
    board.name = data.get("board", {}).get("name", board.name)
    return board


class Scenario:
    """A scenario file, read and checked: board, programme, events, initial fill (nL or None),
    days (or None), faults (pumpsim.faults' form) and whether the board's flash is atomic."""

    def __init__(self, board, programme, events, fill_nl, days, faults, atomic_flash):
        self.board = board
        self.programme = programme
        self.events = events
        self.fill_nl = fill_nl
        self.days = days
        self.faults = faults
        self.atomic_flash = atomic_flash

    def simulation(self, recorder=None):
        return Simulation(self.board, self.programme, self.events, self.fill_nl,
                          faults=self.faults, atomic_flash=self.atomic_flash, recorder=recorder)


def load_scenario(path):
    data = read_toml(path)
    known = {"board", "days", "initial_fill_ul", "programme", "events", "title", "description",
             "faults", "flash"}
    for k in data:
        if k not in known:
            raise ScenarioError(f"{path}: unknown top-level field '{k}'")
    if "programme" not in data:
        raise ScenarioError(f"{path}: needs a [programme] table")
    if data.get("flash", "atomic") not in ("atomic", "torn"):
        raise ScenarioError(f"{path}: flash: 'atomic' (littlefs) or 'torn' (FAT)")
    board = load_board(board_path(data.get("board", "virtual"), path))
    fill = data.get("initial_fill_ul")
    return Scenario(board, data["programme"], data.get("events", []),
                    None if fill is None else fill * 1000, data.get("days"),
                    check_faults(data.get("faults", [])),
                    data.get("flash", "atomic") == "atomic")
