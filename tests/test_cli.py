"""pumpctl sim: human and JSON summaries, clear errors (exit 2) naming the bad field."""
import json
import os
import subprocess
import sys

import pytest

from pumpctl.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")


def _json(capsys, *args):
    assert main(["sim", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_summary_has_contract_fields(capsys):
    s = _json(capsys, os.path.join(EXAMPLES, "dystonia-flex.toml"), "--days", "30")
    for key in ("programmed_nl", "delivered_nl", "max_abs_error_steps", "boluses_given",
                "boluses_refused", "alarms", "reservoir_nl_end"):
        assert key in s
    assert s["days"] == 30
    assert s["boluses_refused"] == {"lockout": 30}
    assert s["boluses_given_by_kind"] == {"periodic": 240, "patient": 90}
    assert s["max_abs_error_steps"] < 1
    assert abs(s["programmed_nl"] - s["delivered_nl"]) < s["nl_per_step"]


def test_human_summary(capsys):
    assert main(["sim", os.path.join(EXAMPLES, "reservoir-empty.toml")]) == 0
    out = capsys.readouterr().out
    assert "empty_reservoir: first at 10d 00:00:00" in out
    assert "low_reservoir: first at 8d 00:00:00" in out
    assert "refused      1 (critical_alarm 1)" in out


def _scenario(tmp_path, text):
    p = tmp_path / "s.toml"
    p.write_text(f'board = "{os.path.join(ROOT, "boards", "virtual.toml")}"\n' + text)
    return str(p)


def test_bad_programme_names_field(tmp_path, capsys):
    path = _scenario(tmp_path, "[programme]\nmode = 'continuous'\n"
                               "concentration_ug_per_ml = 9000\nrate_ug_per_day = 100\n"
                               "max_ug_per_24h = 200\n")
    assert main(["sim", path]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pumpctl: ")
    assert "programme.concentration_ug_per_ml: out of range" in err


@pytest.mark.parametrize("text, words", [
    ("[programme\n", "not valid TOML"),
    ("colour = 1\n[programme]\n", "unknown top-level field 'colour'"),
    ("[programme]\nmode='stopped'\nconcentration_ug_per_ml=500\nmax_ug_per_24h=1\n"
     "[[events]]\naction='dance'\n", "events[0].action"),
    ("[programme]\nmode='stopped'\nconcentration_ug_per_ml=500\nmax_ug_per_24h=1\n"
     "[[events]]\naction='ack'\nalarm='fire'\n", "no alarm called 'fire'"),
])
def test_bad_scenarios(tmp_path, capsys, text, words):
    assert main(["sim", _scenario(tmp_path, text)]) == 2
    assert words in capsys.readouterr().err


def test_missing_board(tmp_path, capsys):
    p = tmp_path / "s.toml"
    p.write_text('board = "nosuch"\n[programme]\nmode="stopped"\n')
    assert main(["sim", str(p)]) == 2
    assert "board 'nosuch' not found" in capsys.readouterr().err


def test_console_script_runs():
    r = subprocess.run([sys.executable, "-m", "pumpctl.cli", "sim",
                        os.path.join(EXAMPLES, "continuous.toml"), "--days", "3"],
                       capture_output=True, text=True, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": os.pathsep.join(
                           os.path.join(ROOT, d) for d in ("firmware", "sim", "host"))})
    assert r.returncode == 0, r.stderr
    assert "3 days on board 'virtual'" in r.stdout
