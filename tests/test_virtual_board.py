"""The firmware itself (firmware/main.py: the application, the link, the unix board layer)
running under the real MicroPython unix port as a virtual board, driven over its serial line
(a TCP port) by pumpctl: set a programme, a patient bolus delivered in accelerated time, a
lockout refusal, the reservoir run low and the alarm seen in telemetry (issue 4). The board's
ticks start a minute before their 2**30 wrap, so every run crosses it."""
import json
import os
import shutil
import socket
import subprocess
import time
import tomllib

import pytest

from pumpctl.cli import main
from pumpctl.client import Client
from pumpwire.auth import CLINICIAN, PATIENT

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MP = shutil.which("micropython")
SPEED = 3600
pytestmark = pytest.mark.skipif(MP is None, reason="needs the MicroPython unix port")


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def board(tmp_path):
    """A virtual board's root directory with its configuration, and the firmware running."""
    root = tmp_path / "vboard"
    root.mkdir()
    with open(os.path.join(ROOT, "boards", "virtual.toml"), "rb") as f:
        (root / "board.json").write_text(json.dumps(tomllib.load(f)))
    keys = {"device": "vboard-1", "patient": "5a" * 32, "clinician": "c3" * 32}
    (root / "keys.json").write_text(json.dumps(keys))
    (tmp_path / "host-keys.json").write_text(json.dumps(keys))
    port = _free_port()
    (root / "virtual.json").write_text(json.dumps({"tcp_port": port, "speed": SPEED}))
    path = ":".join([".frozen"] + [os.path.join(ROOT, d) for d in ("firmware", "protocol",
                                                                      "sim")])
    proc = subprocess.Popen([MP, os.path.join(ROOT, "firmware", "main.py")], cwd=root,
                            env=dict(os.environ, MICROPYPATH=path), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    url = f"socket://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError("virtual board did not start:\n" + proc.stdout.read())
            time.sleep(0.05)
    yield url, str(tmp_path / "host-keys.json"), root
    proc.terminate()
    out = proc.communicate(timeout=10)[0]
    assert "Traceback" not in out, out


def _keys():
    return {PATIENT: bytes.fromhex("5a" * 32), CLINICIAN: bytes.fromhex("c3" * 32)}


def test_operate_the_firmware_over_its_serial_line(board, capsys):
    url, keyfile, root = board
    c = Client(url, _keys(), device="vboard-1")
    with c:
        info = c.hello()
        assert info["board"] == "virtual" and info["device"] == "vboard-1"
        st = c.status()
        assert not st["flags"] & 4                    # boots unprogrammed: no delivery
        c.refill(0, 0, 4_100_000)                     # 4.1 mL: just above the 4 mL low mark
    assert main(["program", os.path.join(ROOT, "examples", "dystonia-flex.toml"), "--yes",
                 "--port", url, "--keys", keyfile]) == 0
    assert "is in force" in capsys.readouterr().out
    assert main(["bolus", "--port", url, "--keys", keyfile]) == 0
    assert "patient bolus started: 50 ug" in capsys.readouterr().out
    assert main(["bolus", "--port", url, "--keys", keyfile]) == 1
    assert "lockout" in capsys.readouterr().err
    with Client(url, _keys(), device="vboard-1") as c:
        c.telemetry(60)
        low = None
        deadline = time.monotonic() + 20             # ~5 h of pump time at 3600x
        while low is None and time.monotonic() < deadline:
            c.poll(0.2)
            while c.pushes:
                st = c.pushes.popleft().fields
                if st["alarm_bits"] & 2:             # low_reservoir
                    low = st
        assert low is not None, "no low-reservoir alarm in telemetry"
        assert low["reservoir_nl"] <= 4_000_000 and low["tone"] == 1
        records, _ = c.log_all(0)
        kinds = [(r["code"], r["a"]) for r in records]
        assert (3, 4) in kinds and (5, 4) in kinds    # patient bolus started and ended
        assert (4, 4) in kinds                        # and the second press refused
    assert json.loads((root / "counters.json").read_text())[2] >= 3   # persisted on board
