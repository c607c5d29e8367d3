"""End to end over a real byte link: `pumpctl` commands against `pumpctl sim --serve` running
in its own process (a TCP socket, and a pseudo-terminal), SR-16..SR-18 included."""
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import types

import pytest

from pumpctl.cli import main
from pumpctl.client import Client, Refused
from pumpctl.keys import load_keys
from pumpwire import reasons
from pumpwire.auth import CLINICIAN, PATIENT
from pumpwire.frame import pack_signed

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")
SPEED = 600


def _serve(tmp_path, where="127.0.0.1:0", scenario="dystonia-flex.toml"):
    keys = str(tmp_path / "keys.json")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pumpctl.cli", "sim", os.path.join(EXAMPLES, scenario),
         "--serve", where, "--speed", str(SPEED), "--keys", keys, "--device", "e2e-pump"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    m = re.search(r" on (\S+) at ", line)
    if not m:
        proc.kill()
        raise AssertionError("server did not start: " + line + proc.stderr.read())
    return proc, m.group(1), keys


@contextlib.contextmanager
def served(tmp_path, where="127.0.0.1:0"):
    """A served pump for the block; stopped after it, its output kept in .out/.err."""
    proc, url, keys = _serve(tmp_path, where)
    s = types.SimpleNamespace(proc=proc, url=url, keys=keys, out=None, err=None)
    try:
        yield s
    finally:
        proc.send_signal(signal.SIGCONT)             # in case a test froze it
        proc.terminate()
        s.out, s.err = proc.communicate(timeout=10)


@pytest.fixture
def pump(tmp_path, monkeypatch):
    with served(tmp_path) as p:
        monkeypatch.setenv("PUMPCTL_PORT", p.url)
        monkeypatch.setenv("PUMPCTL_KEYS", p.keys)
        yield p.url, p.keys
    assert p.proc.returncode == 0, p.err
    assert "stopped at" in p.out


def run(capsys, *argv):
    code = main(list(argv))
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def test_status_log_and_keys_file(pump, capsys):
    url, keys = pump
    device, k = load_keys(keys)
    assert device == "e2e-pump" and set(k) == {PATIENT, CLINICIAN}
    code, out, _ = run(capsys, "status")
    assert code == 0 and "pump e2e-pump on board virtual" in out and "mode         flex" in out
    code, out, _ = run(capsys, "status", "--json")
    data = json.loads(out)
    assert data["words"]["delivering"] and data["status"]["basal_ug_per_day"] == 2100
    code, out, _ = run(capsys, "log")
    assert code == 0 and "programme" in out and "refill" in out


def test_patient_bolus_lockout_and_delivery(pump, capsys):
    """SR-2 over the link: the bolus is given, the next press is refused (lockout) and
    changes nothing; the bolus is delivered in accelerated time."""
    code, out, _ = run(capsys, "bolus")
    assert code == 0 and "patient bolus started: 50 ug" in out
    code, out, err = run(capsys, "bolus")
    assert code == 1 and "lockout" in err and "nothing changed" in err
    assert re.search(r"lockout — the next patient bolus is allowed in 1h \d\dm \d\ds;", err)
    code, out, _ = run(capsys, "status")
    assert re.search(r"lockout      1h \d\dm \d\ds left", out)
    time.sleep(6 * 60 / SPEED + 0.3)            # the 5-minute bolus ends
    code, out, _ = run(capsys, "log")
    assert "bolus_start        patient 50 ug" in out
    assert "bolus_refused      patient: lockout" in out
    assert "bolus_end          patient 50 ug" in out


def test_programme_review_then_commit(pump, capsys, tmp_path):
    """SR-18: the host stages, reads back, shows in force vs staged; --dry-run leaves the
    programme in force; --yes commits the reviewed CRC."""
    new = os.path.join(EXAMPLES, "day-night-flex.toml")
    code, out, _ = run(capsys, "program", new, "--dry-run")
    assert code == 0 and "read back and checked" in out and "dry run" in out
    assert re.search(r"\* concentration_ug_per_ml\s+2000\s+1000", out)
    assert re.search(r"24 h window across the change .*: \d+ ug\n", out)
    code, out, _ = run(capsys, "status")
    assert "2100 ug/day" in out or "2400 ug/day" in out and "staged" not in out
    code, out, _ = run(capsys, "program", new, "--yes")
    assert code == 0 and "is in force" in out
    c = Client(pump[0], load_keys(pump[1])[1])
    with c:
        text, crc = c.read_programme(0)
        assert json.loads(text)["concentration_ug_per_ml"] == 1000
        assert c.status()["flags"] & 8 == 0


def test_programme_answer_no_discards(pump, capsys, monkeypatch):
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    code, out, _ = run(capsys, "program", os.path.join(EXAMPLES, "continuous.toml"))
    assert code == 1 and "not committed" in out
    code, out, _ = run(capsys, "status")
    assert "mode         flex" in out


def test_invalid_programme_is_refused_naming_the_field(pump, capsys, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('mode = "continuous"\nconcentration_ug_per_ml = 2000\n'
                   'rate_ug_per_day = 500\nmax_ug_per_24h = 100\n')
    code, out, err = run(capsys, "program", str(bad), "--yes")
    assert code == 1 and "max_ug_per_24h" in err and "nothing changed" in err


def test_roles_forgery_and_replay_over_the_socket(pump):
    """SR-16, SR-17 over a real socket: the patient role cannot programme or stop, a forged
    key is refused, a replayed frame is refused, and therapy is unchanged."""
    url, keys = pump
    k = load_keys(keys)[1]
    with Client(url, k) as c:
        before = c.status()
        for name, values in (("programme_commit", (1,)), ("stop", ())):
            with pytest.raises(Refused) as e:
                c.command(name, *values, role=PATIENT)
            assert e.value.reason == reasons.N_ROLE
        forged = Client(url, {CLINICIAN: b"\x01" * 32})
        with forged, pytest.raises(Refused) as e:
            forged.stop()
        assert e.value.reason == reasons.N_BAD_TAG
        hw = c.hello()["clinician_counter"]
        frame = pack_signed("stop", 77, k[CLINICIAN], CLINICIAN, hw + 1, device="e2e-pump")
        assert c._exchange(frame, 77, "stop", ("ack", "nak"))[-1].name == "ack"
        c.resume()
        got = c._exchange(frame, 77, "stop", ("ack", "nak"))[-1]
        assert got.name == "nak" and got.fields["reason"] == reasons.N_REPLAY
        after = c.status()
        assert after["flags"] & 1 and after["mode"] == before["mode"]
        stats = c.link_stats()
        assert stats["denied"] == 2 and stats["bad_auth"] == 1 and stats["replays"] == 1


def test_clinician_commands(pump, capsys):
    assert run(capsys, "stop")[0] == 0
    code, out, _ = run(capsys, "status")
    assert "NOT delivering: stopped by command (pumpctl resume)" in out
    assert run(capsys, "resume")[0] == 0
    code, out, _ = run(capsys, "refill", "--added-ul", "20000", "--aspirated-ul", "0")
    assert code == 0 and "refill_discrepancy" in out
    code, out, err = run(capsys, "alarms", "ack")
    assert code == 2 and "waiting: refill_discrepancy (warning)" in err
    code, out, _ = run(capsys, "alarms", "ack", "refill_discrepancy")
    assert code == 0 and "acknowledged refill_discrepancy (warning)" in out
    code, out, _ = run(capsys, "alarms", "ack")
    assert code == 0 and "no alarm waits" in out
    code, out, err = run(capsys, "alarms", "ack", "refill_discrepancy")
    assert code == 1 and "no_such_alarm" in err
    code, out, err = run(capsys, "alarms", "ack", "nonsense")
    assert code == 2 and "no alarm called" in err
    assert run(capsys, "alarms", "test")[0] == 0
    code, out, _ = run(capsys, "alarms", "silence")     # the 6 s test tone is over at 600x
    assert code == 0 and "no alarm is sounding; nothing to silence" in out
    code, out, _ = run(capsys, "bolus", "--ug", "100", "--minutes", "10")
    assert code == 0 and "100 ug over 10 min" in out
    code, out, err = run(capsys, "bolus", "--priming")     # 250 uL of 2000 ug/mL: over the cap
    assert code == 1 and "ug_24h — it would take the last 24 h's dose over the programme's " \
        "max_ug_per_24h; nothing changed" in err
    code, out, err = run(capsys, "bolus", "--ug", "2000", "--minutes", "10")
    assert code == 1 and "amount — a bolus is 1-1500 ug" in err
    code, out, err = run(capsys, "bolus", "--bridge")
    assert code == 1 and "concentration" in err
    code, out, _ = run(capsys, "time-sync")
    assert code == 0 and "UTC" in out
    code, out, _ = run(capsys, "status")
    assert "UTC)" in out
    assert run(capsys, "time-sync")[0] == 0
    code, out, _ = run(capsys, "log")
    syncs = [ln for ln in out.splitlines() if "time_sync" in ln]
    assert "(first sync)" in syncs[0] and "(changed by " in syncs[1]


def test_monitor_prints_pushed_status_and_new_events(pump, capsys):
    code, out, _ = run(capsys, "monitor", "--period", "300", "--count", "3")
    lines = [ln for ln in out.splitlines() if not ln.startswith("    ")]
    assert code == 0 and len(lines) == 3 and all("flex" in ln for ln in lines)


def test_monitor_shows_the_status_at_once(pump, capsys):
    """The first line is the status now, not the first push a period later; lockout reads
    as in `status`."""
    assert run(capsys, "bolus")[0] == 0
    t0 = time.monotonic()
    code, out, _ = run(capsys, "monitor", "--period", "65535", "--count", "1")
    assert code == 0 and time.monotonic() - t0 < 2
    assert re.search(r"flex .* lockout +1h \d\dm \d\ds +alarms -$", out.strip())


def test_pseudo_terminal(tmp_path, capsys):
    with served(tmp_path, "pty") as p:
        assert p.url.startswith("/dev/")
        code, out, _ = run(capsys, "status", "--port", p.url, "--keys", p.keys)
        assert code == 0 and "mode         flex" in out
        code, out, _ = run(capsys, "bolus", "--port", p.url, "--keys", p.keys)
        assert code == 0 and "50 ug" in out


def test_link_failures_are_clear(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("PUMPCTL_PORT", raising=False)
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "status")
    assert code == 2 and "--port" in err
    code, _, err = run(capsys, "status", "--port", "loop://", "--timeout", "0.3")
    assert code == 3 and "no answer to hello" in err and "another protocol version" in err
    code, _, err = run(capsys, "status", "--port", "socket://127.0.0.1:1")
    assert code == 3 and "cannot open" in err
    (tmp_path / "k.json").write_text("{}")
    code, _, err = run(capsys, "stop", "--port", "loop://", "--keys", str(tmp_path / "k.json"))
    assert code == 2 and "not a key file" in err
    code, _, err = run(capsys, "stop", "--port", "loop://", "--keys", str(tmp_path / "no.json"))
    assert code == 2 and "cannot read key file" in err


def test_keys_new_never_overwrites(capsys, tmp_path):
    path = str(tmp_path / "k.json")
    code, out, _ = run(capsys, "keys", "new", path, "--device", "ward-3")
    assert code == 0 and "ward-3" in out and os.stat(path).st_mode & 0o077 == 0
    code, _, err = run(capsys, "keys", "new", path)
    assert code == 2 and "already exists" in err


def test_another_message_table_is_a_mismatch(pump, capsys, monkeypatch):
    """SR-15: a host built from another table is told so, instead of misreading fields."""
    monkeypatch.setattr("pumpctl.client.SCHEMA", 0x12345678)
    code, _, err = run(capsys, "status")
    assert code == 3 and "schema" in err


class _DuplicatingPort:
    """A link that delivers the n-th frame written twice and loses the first answer."""

    def __init__(self, rig, duplicate):
        self.rig = rig
        self.duplicate = duplicate
        self.writes = 0
        self.buf = bytearray()

    def write(self, frame):
        self.writes += 1
        out = []
        session = self.rig.link.session(out.append)
        session.feed(frame)
        if self.writes == self.duplicate:
            session.feed(frame)
            out = out[1:]
        self.rig.link.close(session)
        self.buf += b"".join(out)

    def flush(self):
        pass

    def read(self, n):
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def close(self):
        pass


def test_client_never_resends_a_command_by_itself(capsys):
    """SR-17 at the host (review finding): a duplicated frame whose ack was lost draws a
    replay nak; the client reports it instead of signing the bolus again."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "core"))
    from corekit import HOUR, continuous
    from linkkit import KEYS, LinkRig
    rig = LinkRig(continuous(rate=1000, cap=3000))
    rig.run_to(HOUR)
    c = Client("loop://", dict(KEYS))
    c.port = _DuplicatingPort(rig, duplicate=2)      # 1: hello, 2: the bolus
    with pytest.raises(Refused) as e:
        c.bolus(100, 600)
    assert e.value.reason == reasons.N_REPLAY
    assert len(rig.events(3)) == 1                   # one bolus_start, not two
    assert c.status()["boluses"] == 1
    assert c.bolus(50, 600) == 50                     # the counter was refreshed


def test_a_stuck_host_cannot_stall_the_served_pump():
    """Review finding: output to a host that never reads is buffered up to a bound, then
    dropped; writing never blocks."""
    import selectors
    import socket

    from pumpsim.serve import _Conn
    a, b = socket.socketpair()
    a.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(a, selectors.EVENT_READ, None)
    conn = _Conn(sel, a)
    conn.session = None
    t0 = time.monotonic()
    for _ in range(20000):                     # ~1.2 MB of status frames, nobody reading
        conn.write(b"\x11" * 60)
    assert time.monotonic() - t0 < 5
    assert len(conn.out) <= _Conn.OUT_LIMIT and conn.dropped > 0
    assert sel.get_key(a).events & selectors.EVENT_WRITE
    b.close()
    a.close()


def test_review_warns_when_the_change_window_is_above_the_new_cap(capsys, monkeypatch,
                                                                  tmp_path):
    """The review shows the 24 h window straddling the change and flags it above the new
    programme's own cap (docs/safety.md, open hazard made visible)."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "core"))
    from corekit import DAY, continuous
    from linkkit import KEYS, LinkRig
    rig = LinkRig(continuous(rate=4000, cap=4500))
    rig.run_to(DAY)

    def client(url, keys, timeout, device=None):
        c = Client("loop://", dict(KEYS), timeout, device)
        c.port = _DuplicatingPort(rig, duplicate=None)
        return c
    monkeypatch.setattr("pumpctl.commands.Client", client)
    new = tmp_path / "low.toml"
    new.write_text('mode = "continuous"\nconcentration_ug_per_ml = 2000\n'
                   'rate_ug_per_day = 1000\nmax_ug_per_24h = 1500\n')
    monkeypatch.setattr("pumpctl.commands.load_keys", lambda path: ("test-pump", dict(KEYS)))
    code, out, _ = run(capsys, "program", str(new), "--dry-run", "--port", "loop://")
    assert code == 0
    assert re.search(r"across the change .*: 4\d{3} ug — ABOVE the new max_ug_per_24h of "
                     r"1500 ug", out)


def test_monitor_says_when_telemetry_stops(tmp_path):
    """A pump that goes quiet is reported, not shown frozen at its last good line (review)."""
    with served(tmp_path) as p:
        mon = subprocess.Popen([sys.executable, "-m", "pumpctl.cli", "monitor", "--port",
                                p.url, "--keys", p.keys, "--period", "60", "--count", "8",
                                "--timeout", "1"], stdout=subprocess.PIPE, text=True)
        lines = [mon.stdout.readline() for _ in range(3)]
        p.proc.send_signal(signal.SIGSTOP)
        time.sleep(4.5)
        p.proc.send_signal(signal.SIGCONT)
        out = "".join(lines) + mon.communicate(timeout=30)[0]
        assert mon.returncode == 0
        assert "!! no telemetry" in out and "telemetry is back" in out


def test_wrong_pump_for_the_key_file(pump, capsys, tmp_path):
    """Review finding: keys for pump A used on pump B (even if they share keys) are refused
    before anything is signed."""
    url, keys = pump
    with open(keys) as f:
        data = json.load(f)
    data["device"] = "patient-A"
    other = tmp_path / "a.json"
    other.write_text(json.dumps(data))
    code, _, err = run(capsys, "stop", "--keys", str(other))
    assert code == 3 and "key file is for pump 'patient-A'" in err
    code, out, _ = run(capsys, "status")
    assert "NOT delivering" not in out


def test_replay_counters_survive_a_restart(tmp_path, capsys):
    """SR-17 for the served pump: its counters live beside the key file; keys used before
    without their counters are refused rather than reset."""
    with served(tmp_path) as p:
        assert run(capsys, "stop", "--port", p.url, "--keys", p.keys)[0] == 0
    with served(tmp_path) as p, Client(p.url) as c:
        assert c.hello()["clinician_counter"] == 1
    os.remove(p.keys + ".counters")
    with pytest.raises(AssertionError, match="replay counters .* missing"):
        _serve(tmp_path)


def test_a_new_key_file_is_served_and_restarts_with_its_counters(tmp_path, capsys):
    """Review finding: keys from `keys new`, and keys served but never used to sign, come with
    their counters file at [0, 0, 0], so the pump can be served (again) with them."""
    keys = str(tmp_path / "keys.json")
    assert run(capsys, "keys", "new", keys, "--device", "e2e-pump")[0] == 0
    with open(keys + ".counters") as f:
        assert json.load(f) == [0, 0, 0]
    for _ in range(2):               # no signed command in between
        with served(tmp_path) as p, Client(p.url) as c:
            assert c.hello()["clinician_counter"] == 0


def test_serve_checks_before_making_a_key_file(tmp_path, capsys):
    """Nothing is written for a pump that cannot be served: a scenario that does not load, a
    port that is taken or out of range; clear errors, no traceback."""
    import socket
    keys = str(tmp_path / "k.json")
    busy = socket.create_server(("127.0.0.1", 0))
    try:
        port = busy.getsockname()[1]
        for where, words in ((f"127.0.0.1:{port}", f"--serve 127.0.0.1:{port}: "),
                             ("127.0.0.1:99999", "PORT 0-65535")):
            code, _, err = run(capsys, "sim", os.path.join(EXAMPLES, "continuous.toml"),
                               "--serve", where, "--keys", keys)
            assert code == 2 and words in err
    finally:
        busy.close()
    bad = tmp_path / "bad.toml"
    bad.write_text("x = \n")
    code, _, err = run(capsys, "sim", str(bad), "--serve", "--keys", keys)
    assert code == 2 and err.count(str(bad)) == 1 and "not valid TOML" in err
    assert not os.path.exists(keys)
    keys_new = str(tmp_path / "n.json")
    assert run(capsys, "keys", "new", keys_new)[0] == 0
    os.remove(keys_new + ".counters")
    code, _, err = run(capsys, "sim", os.path.join(EXAMPLES, "continuous.toml"), "--serve",
                       "--keys", keys_new)
    assert code == 2 and err.startswith("pumpctl: replay counters ") and "Restore" in err


@pytest.mark.parametrize("argv, words", [
    (["status", "--timeout", "0"], "argument --timeout"),
    (["status", "--timeout", "nan"], "argument --timeout"),
    (["log", "--from", "-1"], "argument --from"),
    (["monitor", "--period", "0"], "argument --period"),
    (["monitor", "--period", "65536"], "argument --period"),
    (["bolus", "--ug", "0", "--minutes", "5"], "argument --ug"),
    (["bolus", "--ug", "65536", "--minutes", "5"], "argument --ug"),
    (["bolus", "--ug", "10", "--minutes", "1441"], "argument --minutes"),
    (["refill", "--added-ul", "4294968", "--aspirated-ul", "0"], "argument --added-ul"),
    (["refill", "--added-ul", "10", "--aspirated-ul", "-1"], "argument --aspirated-ul"),
    (["refill", "--added-ul", "0", "--aspirated-ul", "0"], "--added-ul 0 would set"),
    (["status", "--port", "socket://127.0.0.1"], "socket://HOST:PORT"),
    (["stop", "--port", "socket://127.0.0.1:65536"], "socket://HOST:PORT"),
    (["keys", "new", "never-made.json", "--device", ""], "--device"),
    (["sim", "x.toml", "--serve", "--speed", "nan"], "argument --speed"),
    (["sim", "x.toml", "--serve", "--speed", "0"], "argument --speed"),
    (["sim", "x.toml", "--days", "0"], "argument --days"),
])
def test_bad_values_are_refused_before_anything_is_sent(capsys, tmp_path, monkeypatch, argv,
                                                       words):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PUMPCTL_PORT", "loop://")
    code, _, err = run(capsys, *argv)
    assert code == 2 and words in err and "Traceback" not in err
    assert not os.path.exists(tmp_path / "never-made.json")


def test_ctrl_c_and_end_of_input(pump, capsys, monkeypatch):
    """Ctrl-C anywhere: 'interrupted', exit 130; at the commit prompt (or end of input) the
    staged programme is discarded, not left staged."""
    new = os.path.join(EXAMPLES, "day-night-flex.toml")

    def interrupt(*_):
        raise KeyboardInterrupt
    for answer, code_wanted in ((interrupt, 130), (EOFError, 1)):
        monkeypatch.setattr("builtins.input", answer if answer is interrupt else
                            lambda prompt: (_ for _ in ()).throw(EOFError))
        code, out, err = run(capsys, "program", new)
        assert code == code_wanted and "not committed; staged programme discarded" in out
        assert ("pumpctl: interrupted" in err) == (code == 130)
        with Client(pump[0]) as c:
            assert c.status()["flags"] & 8 == 0 and "Traceback" not in err
    monkeypatch.setattr("pumpctl.client.Client.status", interrupt)
    code, _, err = run(capsys, "status")
    assert code == 130 and err == "pumpctl: interrupted\n"


def test_two_hosts_with_one_key(pump):
    """Review finding: a second host with the clinician key signs above the pump's mark,
    whatever the first did meanwhile, instead of drawing a false 'replay'."""
    url, keys = pump
    device, k = load_keys(keys)
    with Client(url, k, device=device) as a, Client(url, k, device=device) as b:
        a.stop()
        b.resume()
        a.stop()
        a.stop()
        b.resume()
        assert a.hello()["clinician_counter"] == 5


def test_read_only_commands_never_read_the_key_file(pump, capsys, tmp_path):
    (tmp_path / "broken.json").write_text("{")
    code, out, _ = run(capsys, "status", "--keys", str(tmp_path / "broken.json"))
    assert code == 0 and "mode         flex" in out
    code, _, err = run(capsys, "stop", "--keys", str(tmp_path / "broken.json"))
    assert code == 2 and "not a key file" in err


def test_refusal_hint_for_keys_of_another_pump(pump, capsys, tmp_path):
    url, keys = pump
    other = str(tmp_path / "other.json")
    assert run(capsys, "keys", "new", other, "--device", "e2e-pump")[0] == 0
    code, _, err = run(capsys, "stop", "--keys", other)
    assert code == 1 and "bad_tag — the key file's keys are not this pump's" in err


def test_a_programme_with_a_fraction_is_refused_on_the_host(pump, capsys, tmp_path):
    bad = tmp_path / "frac.toml"
    bad.write_text('mode = "flex"\nconcentration_ug_per_ml = 1000\nmax_ug_per_24h = 900\n'
                   '[flex]\ncycle_days = 1\ndays = [[[0, 800], [420, 500.5]]]\n')
    code, _, err = run(capsys, "program", str(bad), "--yes")
    assert code == 2 and f"{bad}: flex.days[0][1][1]: must be a whole number, not 500.5" in err


def test_log_says_what_was_overwritten_from_the_first_batch(capsys, monkeypatch):
    """The notice compares the first record read with --from (the last batch's oldest_seq
    would also count records overwritten while they were being read)."""
    class FakeClient:
        def __init__(self, *a, **k):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            pass

        def log_all(self, start):
            rec = {"seq": 40, "time_s": 0, "code": 12, "a": 0, "b": 0}
            return [rec], {"next_seq": 41, "oldest_seq": 41, "log_seq": 41}
    monkeypatch.setattr("pumpctl.commands.Client", FakeClient)
    code, out, _ = run(capsys, "log", "--from", "10", "--port", "loop://")
    assert code == 0 and out.startswith("(events 10 to 39 were overwritten")


def test_review_shows_defaults_and_the_rate_at_every_breakpoint():
    """A field left out shows the value that applies; flex days show, at each minute where
    either programme changes rate, the rate each sets then; cycles of other lengths repeat."""
    from pumpctl.show import side_by_side
    cur = {"mode": "flex", "concentration_ug_per_ml": 2000, "max_ug_per_24h": 4800,
           "low_reservoir_ul": 4000, "flex": {"cycle_days": 2, "days": [
               [[0, 2100], [360, 2400]], [[0, 2000]]]}}
    new = {"mode": "flex", "concentration_ug_per_ml": 2000, "max_ug_per_24h": 4800,
           "flex": {"cycle_days": 1, "days": [[[0, 800], [420, 500]]]}}
    text, changed = side_by_side(cur, new)
    rows = {ln[2:].split("  ")[0].strip(): ln for ln in text.splitlines()[2:]}
    assert re.fullmatch(r"\* low_reservoir_ul +4000 +2000 \(default\)", rows["low_reservoir_ul"])
    assert re.fullmatch(r"  catheter_volume_ul +0 \(default\) +0 \(default\)",
                        rows["catheter_volume_ul"])
    assert re.fullmatch(r"\* flex day 1 from 06:00 +2400 ug/day +800 ug/day",
                        rows["flex day 1 from 06:00"])
    assert re.fullmatch(r"\* flex day 1 from 07:00 +2400 ug/day +500 ug/day",
                        rows["flex day 1 from 07:00"])
    assert re.fullmatch(r"\* flex day 2 from 07:00 +2000 ug/day +500 ug/day \(its day 1\)",
                        rows["flex day 2 from 07:00"])
    assert "—" not in text and "cycles differ" in text


def test_review_defaults_are_the_cores():
    """The defaults the review shows are those the pump applies."""
    from pump.programme import parse_programme
    from pumpctl.show import DEFAULTS, PERIODIC_DEFAULTS
    from pumpsim.files import load_board
    board = load_board(os.path.join(ROOT, "boards", "virtual.toml"))
    prog, err = parse_programme({"mode": "flex", "concentration_ug_per_ml": 2000,
                                 "max_ug_per_24h": 4800, "flex": {"cycle_days": 1,
                                                                  "days": [[[0, 100]]]},
                                 "periodic_boluses": [{"amount_ug": 10,
                                                       "duration_min": 10}]}, board)
    assert err is None
    assert (prog.low_nl, prog.empty_nl, prog.catheter_nl, prog.refill_tolerance_nl) == \
        tuple(1000 * DEFAULTS[k] for k in ("low_reservoir_ul", "empty_reservoir_ul",
                                           "catheter_volume_ul", "refill_tolerance_ul"))
    assert prog.periodic_times == ((60 * PERIODIC_DEFAULTS["first_min"], 0),)
    assert 60 * PERIODIC_DEFAULTS["every_min"] == 86400


def test_no_doubled_words_in_link_errors():
    from pumpctl.client import _failed
    assert _failed("socket://h:1", "read", OSError("read failed: reset")) == \
        "socket://h:1: read failed: reset"
    assert _failed("socket://h:1", "write", OSError("reset")) == "socket://h:1: write failed: reset"
