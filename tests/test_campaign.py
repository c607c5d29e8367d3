"""SR-24, SR-25, SR-26, SR-22: `pumpctl campaign` end to end. A few hundred randomised 30-day
runs of examples/campaigns/power-cuts.toml (power cuts, cuts inside checkpoint writes on
littlefs-like and FAT-like flash, bit flips read back at boot) break no invariant (the full
10,000 runs are bench/campaign.py); a deliberately broken recovery is caught, shrunk to a
minimal scenario file, and that file replays the violation with `pumpctl sim`."""
import json
import os

import pytest

from pumpctl.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPEC = os.path.join(ROOT, "examples", "campaigns", "power-cuts.toml")


def test_a_campaign_with_power_cuts_breaks_no_invariant(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["campaign", SPEC, "--runs", "200", "--seed", "7", "--jobs", "2",
                 "--out", str(out)])
    text = capsys.readouterr()
    assert code == 0, text.out + text.err
    s = json.loads((out / "summary.json").read_text())
    assert s["runs"] == 200 and s["failed"] == 0 and s["violations"] == []
    assert s["faults_injected"]["power_cut"] >= 200          # at least one a run
    assert s["faults_injected"]["cut_in_write"] > 0 and s["faults_injected"]["flip"] > 0
    assert s["reboots"]["restored"] > 0 and s["reboots"]["doubt"] > 0
    assert s["simulated_days"] >= 6000
    assert "200/200 runs, 0 failed" in text.err               # the progress line
    assert "violations       0 run(s)" in text.out


def test_a_broken_recovery_is_caught_shrunk_and_replayed(tmp_path, capsys, monkeypatch):
    import pump.snapshot as snapshot
    real = snapshot._recover
    # the bug under test: a restart that forgets the steps the motor may have issued
    monkeypatch.setattr(snapshot, "_recover", lambda pump, reserve, shift: real(pump, 0, shift))
    out = tmp_path / "out"
    code = main(["campaign", SPEC, "--runs", "3", "--jobs", "1", "--out", str(out),
                 "--keep", "1"])
    text = capsys.readouterr().out
    assert code == 1
    s = json.loads((out / "summary.json").read_text())
    assert s["failed"] >= 1
    v = s["violations"][0]
    assert "SR-24" in " ".join(v["violations"]) or "SR-5" in " ".join(v["violations"])
    assert v["minimal_faults"] <= 2 and v["minimal_events"] <= 3
    assert os.path.exists(v["scenario"]) and "minimal:" in text
    assert main(["sim", v["minimal"]]) == 1                   # the minimal file replays it
    assert "VIOLATION" in capsys.readouterr().out
    monkeypatch.setattr(snapshot, "_recover", real)
    assert main(["sim", v["minimal"]]) == 0                   # and passes once fixed


@pytest.mark.parametrize("bad, says", [
    ("days = 30\n", "at least one [[programmes]]"),
    ('days = 30\nwhat = 1\n[[programmes]]\nmode = "stopped"\n', "unknown top-level field"),
    ('days = 30\n[faults]\npower_cut = [5, 1]\n[[programmes]]\nmode = "continuous"\n'
     'concentration_ug_per_ml = 500\nrate_ug_per_day = 300\nmax_ug_per_24h = 400\n',
     "faults.power_cut"),
])
def test_a_bad_spec_is_refused_naming_the_field(tmp_path, capsys, bad, says):
    spec = tmp_path / "spec.toml"
    spec.write_text(bad)
    assert main(["campaign", str(spec), "--runs", "1", "--out", str(tmp_path / "o")]) == 2
    assert says in capsys.readouterr().err
