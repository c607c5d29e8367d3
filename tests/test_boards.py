"""SR-20: every board file in boards/ is valid (hardware and dosing calibration); a broken one is
refused with the file and field named (issue 4)."""
import glob
import os
import tomllib

import pytest

from pump.board import parse_board
from pumphw.config import parse_hardware
from pumpsim.files import load_board
from pumpsim.scenario import ScenarioError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BOARDS = sorted(glob.glob(os.path.join(ROOT, "boards", "*.toml")))


@pytest.mark.parametrize("path", BOARDS, ids=os.path.basename)
def test_board_files_are_valid(path):
    with open(path, "rb") as f:
        data = tomllib.load(f)
    hw, err = parse_hardware(data)
    assert err is None, err
    assert hw.name == os.path.basename(path)[:-5]
    board, err = parse_board(data["motor"])
    assert err is None, err


def test_the_three_port_families_are_covered():
    ports = set()
    for path in BOARDS:
        with open(path, "rb") as f:
            ports.add(tomllib.load(f)["board"]["port"])
    assert ports == {"rp2", "esp32", "unix"}


def test_a_broken_board_file_is_refused(tmp_path):
    with open(os.path.join(ROOT, "boards", "pico.toml")) as f:
        text = f.read()
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace("buzzer = 15", "buzzer = 2"))
    with pytest.raises(ScenarioError, match=r"bad.toml: pins.buzzer: GPIO 2 is already pins.step"):
        load_board(str(bad))
