"""pumpctl sim --report: the files, the plots have data, the summary table is the simulation's
summary exactly, the recorder agrees with the motor stepped naively, the trumpet curve
(IEC 60601-2-24) of a constant rate is the step quantisation; progress stays off stdout."""
import contextlib
import html
import io
import json
import os
import re
from fractions import Fraction

import pytest

from pumpctl import report
from pumpctl.cli import main
from pumpsim.files import load_scenario
from pumpsim.record import MAX_BINS, Recorder, bin_width_s

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")
DYSTONIA = os.path.join(EXAMPLES, "dystonia-flex.toml")
CONTINUOUS = os.path.join(EXAMPLES, "continuous.toml")
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def cli_report(tmp_path_factory):
    """`pumpctl sim dystonia-flex.toml --days 2 --report OUT --json`: (exit, stdout, OUT)."""
    out = tmp_path_factory.mktemp("report") / "out"
    cap = io.StringIO()
    with contextlib.redirect_stdout(cap):
        code = main(["sim", DYSTONIA, "--days", "2", "--report", str(out), "--json"])
    return code, cap.getvalue(), str(out)


@pytest.fixture(scope="module")
def dystonia_2d():
    sc = load_scenario(DYSTONIA)
    return report.run(sc, 2)


def test_cli_exit_and_files(cli_report):
    code, stdout, out = cli_report
    assert code == 0
    json.loads(stdout)                                  # stdout is the JSON alone
    for name in report.PLOTS:
        png = os.path.join(out, name + ".png")
        with open(png, "rb") as f:
            head = f.read(8)
        assert head == PNG and os.path.getsize(png) > 10_000, name
        with open(os.path.join(out, name + ".svg")) as f:
            svg = f.read()
        assert "<svg" in svg and svg.count("<path") > 20, name
    with open(os.path.join(out, "index.html"), encoding="utf-8") as f:
        page = f.read()
    assert "<style>" in page and "stylesheet" not in page      # CSS inline
    srcs = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert srcs and all("/" not in s and ":" not in s for s in srcs if not s.startswith("#"))
    for name in report.PLOTS:
        assert f'src="{name}.png"' in page and f'href="{name}.svg"' in page


def test_summary_table_is_the_simulation_summary(cli_report):
    code, stdout, out = cli_report
    expected = load_scenario(DYSTONIA).simulation().run(2 * 86400)
    assert json.loads(stdout) == expected               # the recorder changes nothing
    with open(os.path.join(out, "index.html"), encoding="utf-8") as f:
        page = f.read()
    cells = dict((html.unescape(k), json.loads(html.unescape(v))) for k, v in re.findall(
        r'<td class="v" data-key="([^"]+)">([^<]*)</td>', page))
    assert cells == expected                           # every field, every number
    embedded = re.search(r'<script type="application/json" id="summary-json">(.*?)</script>',
                         page, re.S).group(1)
    assert json.loads(embedded.replace("<\\/", "</")) == expected


def test_recorder_totals_match_the_summary(dystonia_2d):
    s, rec = dystonia_2d
    assert sum(rec.deliv_steps) == s["steps"] == rec.edges[-1][2]
    assert rec.edges[-1][0] == 2 * 86400
    assert int(rec.edges[-1][1] * s["nl_per_step"] + 1e-6) == s["programmed_nl"]
    assert abs(sum(rec.prog_steps) - rec.edges[-1][1]) < 1e-6
    assert rec.max_abs_error_steps() == s["max_abs_error_steps"]
    assert max(h for h in rec.err_hi if h is not None) == s["max_abs_error_steps"]
    given = sum(1 for e in rec.events if e[1] == 3)
    refused = sum(1 for e in rec.events if e[1] == 4)
    assert given == s["boluses_given"] and refused == sum(s["boluses_refused"].values())
    assert rec.reservoir[-1][1:] == (s["reservoir_nl_end"], s["reservoir_true_nl_end"])


def _naive(path, days, tick_s):
    """The oracle: the naive fixed-tick loop, whose recorder call at every tick reads the
    motor's real count and the core's exact integral."""
    seen = {}

    def spy(t, pump, steps, nl):
        i = pump.integral
        seen[t] = (steps, i.whole + Fraction(i.num, i.den))

    sc = load_scenario(path)
    sc.simulation(recorder=spy).run(days * 86400, fixed_tick_s=tick_s)
    return seen


@pytest.mark.parametrize("path", [DYSTONIA, CONTINUOUS], ids=os.path.basename)
def test_steps_inside_plans_match_the_motor_stepped_naively(path):
    """The recorder's 30 s samples, worked out from each plan, equal the motor's count and the
    core's integral when the clock really stops every 30 s; so do its bin edges."""
    sc = load_scenario(path)
    s, rec = report.run(sc, 1)
    seen = _naive(path, 1, 30)
    assert len(rec.trumpet) == 121
    for t, d, p in rec.trumpet:
        assert (d, p) == seen[t], t
    for t, p, d in rec.edges:
        assert d == seen[t][0] and abs(p - float(seen[t][1])) < 1e-6, t


def test_trumpet_constant_rate_is_step_quantisation():
    s, rec = report.run(load_scenario(CONTINUOUS), 1)
    tc = rec.trumpet_curve()
    assert tc["constant_rate"]
    rate = tc["rate_steps_per_s"]                      # 300 ug/day of 500 ug/mL, 20 nL/step
    assert rate == pytest.approx(600000 / 20 / 86400)
    assert [w["minutes"] for w in tc["windows"]] == [2, 5, 11, 19, 31]
    assert [w["windows"] for w in tc["windows"]] == [117, 111, 99, 83, 59]  # (60 - P)/0.5 + 1
    for w in tc["windows"]:
        assert w["counted"] == w["windows"]
        one_step = 100 / (rate * w["minutes"] * 60)    # one step in the window, %
        assert w["one_step_pct"] == pytest.approx(one_step)
        assert -one_step < w["min_pct"] <= w["max_pct"] < one_step
    assert tc["windows"][0]["one_step_pct"] < 2.5 and tc["windows"][-1]["one_step_pct"] < 0.2
    assert abs(tc["mean_error_pct"]) < 100 / 1250      # within a step of the hour's 1250


def test_trumpet_says_when_the_programme_is_not_constant(cli_report, dystonia_2d):
    """The dystonia programme's first periodic bolus runs at 01:00-01:10: its errors are taken
    against the programmed delivery, still within a step per window, and the page says so."""
    s, rec = dystonia_2d
    tc = rec.trumpet_curve()
    assert not tc["constant_rate"] and tc["rate_steps_per_s"] is None
    for w in tc["windows"]:
        assert w["counted"] == w["windows"]
        assert -w["one_step_pct"] < w["min_pct"] <= w["max_pct"] < w["one_step_pct"]
    with open(os.path.join(cli_report[2], "index.html"), encoding="utf-8") as f:
        assert "not a constant rate" in f.read()


def test_plots_have_data(dystonia_2d, tmp_path):
    s, rec = dystonia_2d
    x = report._Axis(rec.end_s)
    rate = report.plot_rate(rec, s, str(tmp_path), x)
    steps = [p for p in rate.axes[0].patches if type(p).__name__ == "StepPatch"]
    assert len(steps) >= 2 and all(sum(p.get_data().values) > 0 for p in steps)
    cum = report.plot_cumulative(rec, s, str(tmp_path), x)
    assert max(cum.axes[0].lines[0].get_ydata()) == pytest.approx(s["programmed_nl"] / 1e6,
                                                                  abs=1e-6)
    res = report.plot_reservoir(rec, s, str(tmp_path), x)
    est = res.axes[0].lines[0].get_ydata()
    assert est[0] == 40 and est[-1] == pytest.approx(s["reservoir_nl_end"] / 1e6)
    tl = report.plot_timeline(rec, s, str(tmp_path), x)
    marks = sum(len(line.get_xdata()) for line in tl.axes[0].lines)
    assert marks >= s["boluses_given"] + sum(s["boluses_refused"].values())
    labels = [t.get_text() for t in tl.axes[0].get_yticklabels()]
    assert any("16 given" in t for t in labels) and any("2 refused" in t for t in labels)
    tr = report.plot_trumpet(rec.trumpet_curve(), str(tmp_path))
    assert len(tr.axes[0].lines[0].get_xdata()) == 5


def test_report_refused_with_serve(capsys):
    assert main(["sim", DYSTONIA, "--serve", "--report", "out"]) == 2
    assert "--report" in capsys.readouterr().err


def test_progress_off_stdout(capsys, monkeypatch):
    """A long run prints its progress on stderr, a few lines when stderr is no terminal;
    stdout stays the JSON alone. (Runs done within a second print none: here every run is
    taken as long.)"""
    monkeypatch.setattr(report.Progress.__init__, "__defaults__", (None, "sim", 0.0))
    assert main(["sim", CONTINUOUS, "--days", "60", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["days"] == 60
    lines = err.strip().splitlines()
    assert 1 <= len(lines) <= 5 and lines[-1].startswith("sim: 60/60 simulated days")


def test_progress_bar_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    p = report.Progress(365 * 86400, stream, after_s=0)
    for day in range(366):
        p(day * 86400)
    p.close(365 * 86400)
    text = stream.getvalue()
    assert "\n" not in text[:-1] and text.endswith("\n")        # one line, redrawn with \r
    assert "365/365 simulated days" in text.split("\r")[-1]


def test_memory_is_bounded():
    """Bins, reservoir points and edges stay within a few thousand, whatever the length."""
    assert bin_width_s(365 * 86400) == 21600 and bin_width_s(10 * 365 * 86400) == 3 * 86400
    for days in (1, 30, 365, 3650):
        assert -(-days * 86400 // bin_width_s(days * 86400)) <= MAX_BINS
    sc = load_scenario(CONTINUOUS)
    end = 90 * 86400
    rec = Recorder(end, sc.board)
    sim = sc.simulation(recorder=rec)
    s = sim.run(end)
    rec.finish(sim.t)
    assert rec.n_bins <= MAX_BINS and len(rec.edges) == rec.n_bins + 1
    assert len(rec.reservoir) <= rec.n_bins + 2 * 4 + 2              # a point a bin, refills
    assert rec.records > len(rec.reservoir)
    assert s["steps"] == rec.edges[-1][2]


POWER_CUT = """
[[events]]
action = "time_sync"
at = "4d 12:00"

[[faults]]
kind = "power_cut"
at = "3d 02:00"
rtc = "lost"
off = "3h"
"""


@pytest.fixture(scope="module")
def power_cut_6d(tmp_path_factory):
    """The dystonia programme with a 3 h power cut that loses the clock: (summary, recorder,
    the report's folder)."""
    d = tmp_path_factory.mktemp("cut")
    path = d / "cut.toml"
    with open(DYSTONIA) as f:
        path.write_text(f.read() + POWER_CUT)
    s, rec = report.run(load_scenario(str(path)), 6)
    report.write_report(str(d / "out"), "cut", s, rec)
    return s, rec, str(d / "out")


def test_power_cut_freezes_programmed_and_shows_the_outage(power_cut_6d):
    s, rec, out = power_cut_6d
    cut, back = 3 * 86400 + 2 * 3600, 3 * 86400 + 5 * 3600
    assert s["reboots"] and rec.off == [[cut, back]] and rec.restarts == [(cut, back)]
    assert min(rec.prog_steps) >= 0                     # nothing counted into the outage
    w = rec.bin_s
    for b in range(cut // w + 1, back // w):           # bins wholly inside the outage
        assert rec.prog_steps[b] == 0 and rec.deliv_steps[b] == 0
    assert sum(rec.deliv_steps) == s["steps"] == rec.edges[-1][2]
    # the pump's own count: it ends at the summary's programmed_nl, stepping at the restart
    assert abs(rec.edges[-1][1] * s["nl_per_step"] - s["programmed_nl"]) < s["nl_per_step"]
    (t, before, after, steps), = rec.jumps
    assert t == back and after != before
    assert abs(sum(rec.prog_steps) + after - before - rec.edges[-1][1]) < 1e-6
    x = report._Axis(rec.end_s)
    cum = report.plot_cumulative(rec, s, out, x)
    prog = cum.axes[0].lines[0].get_ydata()
    assert abs(prog[-1] - s["programmed_nl"] / 1e6) < s["nl_per_step"] / 1e6
    assert any(p.get_label() == "power off" for p in cum.axes[0].patches)
    rate = report.plot_rate(rec, s, out, x)
    assert any(p.get_label() == "power off" for p in rate.axes[0].patches)
    tl = report.plot_timeline(rec, s, out, x)
    assert "power off" in [c.get_label() for c in tl.axes[0].collections]


def test_page_says_which_times_are_the_pumps_clock(power_cut_6d, cli_report):
    s, rec, out = power_cut_6d
    assert rec.lag_s > 0
    with open(os.path.join(out, "index.html"), encoding="utf-8") as f:
        page = html.unescape(f.read())
    assert "The power was off from 3d 02:00:00 to 3d 05:00:00" in page
    assert "lags true time by" in page and f"({rec.lag_s} s;" in page
    assert "on the pump's clock" in page
    with open(os.path.join(cli_report[2], "index.html"), encoding="utf-8") as f:
        assert "pump's clock" not in html.unescape(f.read())       # no restart, no note


def test_trumpet_skipped_when_nothing_is_programmed(tmp_path):
    """A continuous programme stopped at 30 min programs nothing in the second hour: the
    trumpet curve is left out and says why."""
    path = tmp_path / "stopped.toml"
    with open(CONTINUOUS) as f:
        path.write_text(f.read() + '\n[[events]]\naction = "stop"\nat = "30m"\n')
    s, rec = report.run(load_scenario(str(path)), 1)
    tc = rec.trumpet_curve()
    assert tc == {"skipped": "nothing programmed in the second hour", "windows": []}
    fig = report.plot_trumpet(tc, str(tmp_path))
    assert "nothing programmed in the second hour" in fig.axes[0].texts[0].get_text()
    assert "nothing programmed in the second hour" in report._trumpet_table(tc)


def test_a_quick_run_prints_no_progress(capsys):
    assert main(["sim", CONTINUOUS, "--days", "30"]) == 0
    assert capsys.readouterr().err == ""
