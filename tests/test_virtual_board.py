"""SR-23, issue 4 end to end, in the normal test command: a virtual board (the MicroPython unix port
run by pumpsim.vboard as a board: its own root, boot.py then main.py, REPL on the same line,
soft reset restarts it) is flashed with `pumpctl flash` (mpy-cross, mpremote copy, SHA-256
read back, reset, hello), then operated with pumpctl over its serial line: set a programme,
a patient bolus delivered in accelerated time, a lockout refusal, the reservoir run low and
the alarm seen in telemetry. mpremote can interrupt the firmware and the board comes back on
a soft reset. The board's ticks start a minute before their 2**30 wrap."""
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from pumpctl.cli import main
from pumpctl.client import Client
from pumpctl.keys import load_keys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPEED = 3600
pytestmark = pytest.mark.skipif(shutil.which("micropython") is None,
                                reason="needs the MicroPython unix port")


def _start_board(root, speed=SPEED):
    proc = subprocess.Popen([sys.executable, "-m", "pumpsim.vboard", str(root), "--speed",
                             str(speed)], cwd=os.path.join(ROOT, "sim"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = proc.stdout.readline()
    m = re.search(r" on (socket://\S+) ", line)
    if not m:
        proc.kill()
        raise AssertionError("virtual board did not start: " + line + proc.stdout.read())
    return proc, m.group(1)


@pytest.fixture(scope="module")
def flashed(tmp_path_factory):
    """A virtual board, flashed once for the module's tests."""
    tmp = tmp_path_factory.mktemp("vboard")
    keys = str(tmp / "keys.json")
    assert main(["keys", "new", keys, "--device", "vboard-1"]) == 0
    proc, url = _start_board(tmp / "root")
    code = main(["flash", "--board", "virtual", "--port", url, "--keys", keys])
    yield code, url, keys, tmp / "root"
    proc.terminate()
    out = proc.communicate(timeout=10)[0]
    assert "Traceback" not in out, out


def test_flash_writes_verifies_and_the_pump_answers(flashed, capsys):
    code, url, keys, root = flashed
    assert code == 0, capsys.readouterr().err
    # flashed files, and the pump's first checkpoints (the `fresh` marker is gone with them)
    assert sorted(os.listdir(root)) == ["board.json", "keys.json", "lib", "main.py",
                                        "state.a", "state.b"]
    assert "pumpsim" in os.listdir(root / "lib")            # the virtual board's motor
    assert "rp2.mpy" not in os.listdir(root / "lib" / "pumphw")
    with Client(url, load_keys(keys)[1], device="vboard-1") as c:
        info = c.hello()
        assert info["board"] == "virtual" and info["device"] == "vboard-1"
        assert not c.status()["flags"] & 4                   # boots unprogrammed: no delivery


def test_operate_the_flashed_firmware(flashed, capsys):
    code, url, keys, root = flashed
    k = load_keys(keys)[1]
    with Client(url, k, device="vboard-1") as c:
        c.refill(0, 0, 4_100_000)                     # 4.1 mL: just above the 4 mL low mark
    args = ["--port", url, "--keys", keys]
    assert main(["program", os.path.join(ROOT, "examples", "dystonia-flex.toml"), "--yes",
                 *args]) == 0
    assert "is in force" in capsys.readouterr().out
    assert main(["bolus", *args]) == 0
    assert "patient bolus started: 50 ug" in capsys.readouterr().out
    assert main(["bolus", *args]) == 1
    assert "lockout" in capsys.readouterr().err
    with Client(url, k, device="vboard-1") as c:
        c.telemetry(60)
        low = None
        deadline = time.monotonic() + 30             # hours of pump time at 3600x
        while low is None and time.monotonic() < deadline:
            c.poll(0.2)
            while c.pushes:
                st = c.pushes.popleft().fields
                if st["alarm_bits"] & 2:             # low_reservoir
                    low = st
        assert low is not None, "no low-reservoir alarm in telemetry"
        # raised no later than the step that crosses 4 mL: within a second of it
        assert low["reservoir_nl"] <= 4_010_000 and low["tone"] == 1
        records, _ = c.log_all(0)
        kinds = [(r["code"], r["a"]) for r in records]
        assert (3, 4) in kinds and (5, 4) in kinds    # patient bolus started and ended
        assert (4, 4) in kinds                        # the second press refused
        c.telemetry(0)
    from pumphw.store import FileStore                 # persisted on the board, in its slots
    cwd = os.getcwd()
    os.chdir(root)
    try:
        assert FileStore().load_counters()[2] >= 3
    finally:
        os.chdir(cwd)


def test_mpremote_interrupts_and_a_soft_reset_restarts_the_firmware(flashed):
    code, url, keys, root = flashed
    mpremote = shutil.which("mpremote") or os.path.join(os.path.dirname(sys.executable),
                                                        "mpremote")
    r = subprocess.run([mpremote, "connect", url, "exec",
                        "import os; print('ROOT', sorted(os.listdir()))"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "'board.json'" in r.stdout, r.stderr
    # mpremote left the board at its REPL: the pump application is not running
    with Client(url, load_keys(keys)[1], device="vboard-1", timeout=0.5) as c:
        c.port.write(b"\r\x03\x03\x02\x04")          # leave raw REPL, soft reset
        deadline = time.monotonic() + 15
        while True:
            try:
                assert c.hello()["device"] == "vboard-1"
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise


def test_flash_dry_run_and_clear_errors(tmp_path, capsys):
    keys = str(tmp_path / "k.json")
    main(["keys", "new", keys, "--device", "dry"])
    capsys.readouterr()
    assert main(["flash", "--board", "pico", "--keys", keys, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert ":lib/pumphw/rp2.mpy" in out and ":lib/pumphw/unix.mpy" not in out
    assert "dry run: nothing written" in out
    assert main(["flash", "--board", "nosuch", "--keys", keys, "--dry-run"]) == 2
    assert "board 'nosuch' not found" in capsys.readouterr().err
    bad = tmp_path / "old.toml"
    with open(os.path.join(ROOT, "boards", "virtual.toml")) as f:
        bad.write_text(f.read().replace('mpy = "6.3"', 'mpy = "6.1"'))
    assert main(["flash", "--board", str(bad), "--keys", keys, "--dry-run"]) == 2
    assert "needs 6.1" in capsys.readouterr().err
    assert main(["flash", "--board", "virtual", "--keys", keys,
                 "--port", "socket://127.0.0.1:1"]) == 3
    assert "no device" in capsys.readouterr().err


def test_virtual_boards_run_side_by_side(flashed, tmp_path):
    """A second board, its own root (a copy of the flashed one) and port, runs next to the
    first; each answers on its own line and keeps its own state."""
    code, url, keys, root = flashed
    other = tmp_path / "root2"
    shutil.copytree(root, other)
    proc, url2 = _start_board(other)
    try:
        k = load_keys(keys)[1]
        deadline = time.monotonic() + 15
        while True:
            try:
                with Client(url2, k, device="vboard-1", timeout=0.5) as c2:
                    c2.hello()
                    c2.refill(0, 0, 1_234_000)
                    st2 = c2.status()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
        with Client(url, k, device="vboard-1") as c1:
            assert c1.status()["reservoir_nl"] != st2["reservoir_nl"]
        # the copy came back from the first board's checkpoint, programme and all: it
        # delivers from its own refill at once
        assert 1_200_000 < st2["reservoir_nl"] <= 1_234_000 and url2 != url
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_a_power_cut_on_the_virtual_board_comes_back_from_its_checkpoint(flashed, tmp_path):
    """SR-24, SR-26 on the real MicroPython interpreter and real files: the flash of a running
    board is copied right after a patient bolus (what a power cut leaves), and a board booted
    from that copy comes back with the programme, the restart warning and the lockout still in
    force, and refuses a second bolus."""
    from pump.codes import A_RESTARTED
    code, url, keys, root = flashed
    k = load_keys(keys)[1]
    with Client(url, k, device="vboard-1") as c:
        c.refill(0, 0, 30_000_000)
        for a in range(1, 16):                        # a clean slate of alarms
            if c.status()["unacked_bits"] & (1 << a):
                c.alarm_ack(a)
        c.patient_bolus()
        cut = tmp_path / "after-the-cut"
        shutil.copytree(root, cut)                    # the flash as the power failed
    proc, url2 = _start_board(cut, speed=60)          # 120 min lockout = 2 min here
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with Client(url2, k, device="vboard-1", timeout=0.5) as c2:
                    st = c2.status()
                    assert st["flags"] & 4                        # programmed
                    assert st["alarm_bits"] & (1 << A_RESTARTED)
                    assert st["lockout_s"] > 6000
                    with pytest.raises(Exception, match="lockout"):
                        c2.patient_bolus()
                break
            except (OSError, AssertionError):
                raise
            except Exception:
                if time.monotonic() > deadline:
                    raise
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
