"""`pumpctl dashboard`: the page in a real browser (headless Chromium driven by Selenium), its
JSON and event-stream endpoints, its guards (loopback only, token, Origin, Host, keys), a clean
stop on SIGTERM; and the teaching examples in examples/teaching/ doing what their texts say."""
import contextlib
import glob
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import types
import urllib.parse

import pytest

from pumpctl import dashboard
from pumpctl.cli import build_parser, main
from pumpctl.keys import load_keys
from pumpsim.engine import Simulation
from pumpsim.files import load_scenario

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEACHING = os.path.join(ROOT, "examples", "teaching")
LESSONS = sorted(glob.glob(os.path.join(TEACHING, "*.toml")))
LOCKOUT = os.path.join(TEACHING, "why-lockout.toml")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = "/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver") else \
    shutil.which("chromedriver")
# .ci/run installs Chromium and sets this: there the browser test must run, never skip.
REQUIRE_BROWSER = os.environ.get("OPENITB_REQUIRE_BROWSER") == "1"


# ---- helpers ----

@contextlib.contextmanager
def in_process(tmp_path, *argv):
    """A dashboard built and started in this process (no signals): yields it with .url."""
    keys = str(tmp_path / "keys.json")
    args = build_parser().parse_args(["dashboard", *argv, "--listen", "127.0.0.1:0",
                                      "--keys", keys])
    dash, url, _ = dashboard.build(args, out=None)
    try:
        dash.start()
        dash.url = url
        dash.keys = keys
        yield dash
    finally:
        dash.close()


@contextlib.contextmanager
def child(tmp_path, *argv):
    """`pumpctl dashboard ...` in its own process; stopped with SIGTERM after the block, which
    must end it cleanly (exit 0, its summary printed)."""
    keys = str(tmp_path / "child-keys.json")
    proc = subprocess.Popen([sys.executable, "-m", "pumpctl.cli", "dashboard", *argv,
                             "--listen", "127.0.0.1:0", "--keys", keys],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    m = re.search(r"dashboard on (http://\S+/) ", line)
    if not m:
        proc.kill()
        raise AssertionError("dashboard did not start: " + line + proc.stderr.read())
    p = types.SimpleNamespace(proc=proc, url=m.group(1), keys=keys, out=None, err=None)
    try:
        yield p
    finally:
        proc.terminate()
        try:
            p.out, p.err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            p.out, p.err = proc.communicate()
            raise AssertionError("the dashboard did not stop on SIGTERM within 10 s")
    assert proc.returncode == 0, p.err
    assert "stopped at" in p.out, p.out


def request(url, path, method="GET", body=None, headers=None, token=True, dash=None):
    """(status, JSON) of one request; a POST carries the page's token unless token=False."""
    u = urllib.parse.urlsplit(url)
    h = {"Host": u.netloc}
    if method == "POST":
        h["Content-Type"] = "application/json"
        if token:
            h["X-Pumpctl-Token"] = page_token(url)
    h.update(headers or {})
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        conn.request(method, path, body=None if body is None else json.dumps(body), headers=h)
        r = conn.getresponse()
        data = r.read()
        return r.status, json.loads(data) if data.startswith(b"{") else data.decode()
    finally:
        conn.close()


_TOKENS = {}


def page_token(url):
    if url not in _TOKENS:
        _, page = request(url, "/")
        _TOKENS[url] = re.search(r'name="pumpctl-token" content="([^"]+)"', page).group(1)
    return _TOKENS[url]


def stream(url, count, timeout=10):
    """The first `count` snapshots the event stream sends."""
    u = urllib.parse.urlsplit(url)
    sock = socket.create_connection((u.hostname, u.port), timeout=timeout)
    try:
        sock.sendall(f"GET /events HTTP/1.1\r\nHost: {u.netloc}\r\n\r\n".encode())
        f = sock.makefile("rb")
        head = f.readline()
        assert b" 200 " in head, head
        out, event = [], None
        while len(out) < count:
            line = f.readline().decode().rstrip("\r\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "status":
                out.append(json.loads(line[6:]))
        return out
    finally:
        sock.close()


def wait_for(check, timeout=10, what="condition"):
    end = time.monotonic() + timeout
    while True:
        v = check()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def snapshot(url):
    return request(url, "/api/status")[1]


# ---- the browser ----

@pytest.fixture(scope="module")
def browser():
    why = None
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        why = "selenium is not installed (pip install '.[test]')"
    if why is None and not (CHROMIUM and CHROMEDRIVER):
        why = ("Chromium or its driver is missing (apt-get install chromium chromium-driver; "
               ".ci/run does it)")
    if why is not None:
        if REQUIRE_BROWSER:
            pytest.fail(why + ", and OPENITB_REQUIRE_BROWSER=1 says the browser test must run")
        pytest.skip(why)
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1280,1000", "--lang=en-US"):
        opts.add_argument(a)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


def _text(driver, element_id):
    from selenium.webdriver.common.by import By
    return driver.find_element(By.ID, element_id).text


def _wait(driver, check, what, timeout=15):
    from selenium.webdriver.support.ui import WebDriverWait
    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(
        lambda d: check(d), message=f"waiting for {what}")


def test_browser_patient_bolus_then_lockout_refusal(browser, tmp_path):
    """The issue's browser test: load the page, press the patient-bolus button, see the bolus
    (result and event log) and then the lockout countdown; press again and see the refusal
    with its reason and what it means."""
    from selenium.webdriver.common.by import By
    with child(tmp_path, LOCKOUT, "--speed", "10") as p:
        browser.get(p.url)
        _wait(browser, lambda d: "pump sim-" in _text(d, "pump-name"), "the pump's name")
        assert "Why lockout exists" in _text(browser, "title")
        assert "overdose" in _text(browser, "lesson-text")
        button = browser.find_element(By.ID, "bolus-btn")
        _wait(browser, lambda d: button.is_enabled(), "the bolus button enabled")
        assert _text(browser, "lockout") == "none"

        button.click()
        _wait(browser, lambda d: "patient bolus started: 50 ug" in _text(d, "result"),
              "the bolus result")
        _wait(browser, lambda d: re.search(r"bolus_start\s+patient 50 ug", _text(d, "log")),
              "bolus_start in the event log")
        lockout = _wait(browser, lambda d: re.fullmatch(r"(59m|1h 00m) \d\ds left",
                                                        _text(d, "lockout")) and
                        _text(d, "lockout"), "the lockout countdown")
        # the countdown counts down (10x: ten pump seconds a second)
        _wait(browser, lambda d: _text(d, "lockout") != lockout, "the countdown moving")
        width = browser.find_element(By.ID, "lockout-bar").value_of_css_property("width")
        assert float(width.rstrip("px")) > 0

        _wait(browser, lambda d: button.is_enabled(), "the bolus button enabled again")
        button.click()
        result = browser.find_element(By.ID, "result")
        _wait(browser, lambda d: "refused" in result.get_attribute("class"), "the refusal")
        text = result.text
        assert "Refused: lockout" in text
        assert re.search(r"the next patient bolus is allowed in \d+m \d\ds", text), text
        assert "nothing changed" in text
        _wait(browser, lambda d: re.search(r"bolus_refused\s+patient: lockout",
                                           _text(d, "log")), "the refusal in the event log")
        browser.save_screenshot(str(tmp_path / "lockout.png"))
    assert "patient_bolus" not in p.err


def test_browser_patient_key_only_disables_clinician_actions(browser, tmp_path):
    from selenium.webdriver.common.by import By
    scen = tmp_path / "low-soon.toml"             # low within 3 pump hours: about a second
    scen.write_text(open(os.path.join(TEACHING, "empty-reservoir.toml")).read()
                    .replace("initial_fill_ul = 3000", "initial_fill_ul = 2100"))
    with child(tmp_path, str(scen), "--patient-only", "--speed", "10000") as p:
        browser.get(p.url)
        _wait(browser, lambda d: _text(d, "keys") == "patient key only", "the key badge")
        refill = browser.find_element(By.ID, "refill-btn")
        assert not refill.is_enabled()
        assert refill.get_attribute("title") == "needs the clinician key"
        assert browser.find_element(By.ID, "bolus-btn").is_enabled()
        # the low alarm comes; its acknowledge button is disabled
        ack = _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#alarms button"),
                    "an alarm with its acknowledge button", timeout=30)
        assert not ack[0].is_enabled()
        _wait(browser, lambda d: _text(d, "tone") in ("warning", "critical"), "the tone")
        assert browser.find_elements(By.CSS_SELECTOR, "#tone-svg rect")


# ---- without a browser: endpoints and guards ----

def test_event_stream_pushes_status(tmp_path):
    with in_process(tmp_path, LOCKOUT, "--speed", "600") as d:
        first, *_, last = stream(d.url, 4)
        assert first["pump"]["device"].startswith("sim-")
        assert first["source"]["title"].startswith("Why lockout exists")
        assert first["programme"]["lockout_s"] == 3600
        assert first["roles"] == {"patient": True, "clinician": True}
        assert last["serial"] > first["serial"]
        assert last["status"]["time_s"] > first["status"]["time_s"]      # 600x
        assert [e["name"] for e in last["events"]][:2] == ["refill", "programme"]
        assert last["words"]["mode"] == "continuous" and last["tone"]["name"] == "off"


def test_json_endpoints_bolus_and_refusal(tmp_path):
    """POST /api/bolus goes through the Client: given, then refused with reason and hint;
    the pump's own log shows both."""
    with in_process(tmp_path, LOCKOUT) as d:
        code, st = request(d.url, "/api/status")
        assert code == 200 and st["status"]["lockout_s"] == 0
        code, r = request(d.url, "/api/bolus", "POST", {})
        assert code == 200 and r == {"ok": True, "message": "patient bolus started: 50 ug"}
        code, r = request(d.url, "/api/bolus", "POST", {})
        assert code == 409 and not r["ok"] and r["refused"]["reason"] == "lockout"
        assert re.fullmatch(r"the next patient bolus is allowed in (59m|1h 00m) \d\ds",
                            r["refused"]["hint"])
        assert "pump refused patient_bolus: lockout; nothing changed" == r["message"]
        st = snapshot(d.url)
        assert 3500 < st["status"]["lockout_s"] <= 3600
        names = [(e["name"], e["detail"]) for e in st["events"]]
        assert ("bolus_start", "patient 50 ug") in names
        assert ("bolus_refused", "patient: lockout") in names
        assert request(d.url, "/api/nothing", "POST", {})[0] == 404
        assert request(d.url, "/nothing")[0] == 404


def test_clinician_ack_and_refill(tmp_path):
    """An empty reservoir (low then empty within seconds at 10,000x): acknowledge by name,
    refill, and delivery resumes; bad values are refused before anything is sent."""
    scen = tmp_path / "nearly-empty.toml"
    scen.write_text(open(os.path.join(TEACHING, "empty-reservoir.toml")).read()
                    .replace("initial_fill_ul = 3000", "initial_fill_ul = 1100"))
    with in_process(tmp_path, str(scen), "--speed", "10000") as d:
        st = wait_for(lambda: (s := snapshot(d.url)) and len(s["alarms"]) == 2 and s,
                      what="the low and empty alarms")
        assert [a["name"] for a in st["alarms"]] == ["low_reservoir", "empty_reservoir"]
        assert st["tone"]["name"] == "critical" and len(st["tone"]["pattern"]) == 10
        assert not st["words"]["delivering"]
        code, r = request(d.url, "/api/ack", "POST", {"alarm": "everything"})
        assert code == 400 and "no alarm called 'everything'" in r["message"]
        code, r = request(d.url, "/api/refill", "POST", {"added_ul": -5, "aspirated_ul": 0})
        assert code == 400 and "added_ul" in r["message"]
        code, r = request(d.url, "/api/refill", "POST", {"added_ul": "20000",
                                                        "aspirated_ul": "1000"})
        assert code == 200 and r["message"].startswith("refilled: 20 mL in; aspirated 1 mL")
        for name in ("empty_reservoir", "low_reservoir"):
            code, r = request(d.url, "/api/ack", "POST", {"alarm": name})
            assert code == 200 and r["message"].startswith("acknowledged " + name), r
        code, r = request(d.url, "/api/ack", "POST", {"alarm": "low_reservoir"})
        assert code == 409 and r["refused"]["reason"] == "no_such_alarm"
        st = wait_for(lambda: (s := snapshot(d.url))["words"]["delivering"] and s,
                      what="delivery to resume")
        assert st["alarms"] == [] and st["status"]["reservoir_nl"] > 19_000_000
        assert "refill" in [e["name"] for e in st["events"][2:]]
        code, r = request(d.url, "/api/speed", "POST", {"speed": 60})
        assert code == 200 and snapshot(d.url)["source"]["speed"] == 60
        assert request(d.url, "/api/speed", "POST", {"speed": 1e6})[0] == 400


def test_clinician_actions_refused_without_the_key(tmp_path):
    """--patient-only: the page says so, and a clinician action is refused by the dashboard's
    Client (NoKey) before anything is sent: the pump's log has no trace of it."""
    with in_process(tmp_path, os.path.join(TEACHING, "empty-reservoir.toml"),
                    "--patient-only") as d:
        st = snapshot(d.url)
        assert st["roles"] == {"patient": True, "clinician": False}
        seq = st["status"]["log_seq"]
        code, r = request(d.url, "/api/refill", "POST", {"added_ul": 20000, "aspirated_ul": 0})
        assert code == 403 and r["message"] == "no clinician key: a refill needs one"
        code, r = request(d.url, "/api/ack", "POST", {"alarm": "low_reservoir"})
        assert code == 403 and "no clinician key" in r["message"]
        code, r = request(d.url, "/api/bolus", "POST", {})     # the patient key still works
        assert code == 200
        st = snapshot(d.url)
        assert [e["name"] for e in st["events"] if e["seq"] >= seq] == ["bolus_start"]


def test_posts_need_the_token_json_and_this_origin(tmp_path):
    with in_process(tmp_path, LOCKOUT) as d:
        host = urllib.parse.urlsplit(d.url).netloc
        assert request(d.url, "/api/bolus", "POST", {}, token=False)[0] == 403
        assert request(d.url, "/api/bolus", "POST", {},
                       headers={"X-Pumpctl-Token": "guess"})[0] == 403
        code, r = request(d.url, "/api/bolus", "POST", {},
                          headers={"Origin": "http://evil.example"})
        assert code == 403 and "own page" in r["message"]
        assert request(d.url, "/api/bolus", "POST", {},
                       headers={"Content-Type": "text/plain"})[0] == 415
        # DNS rebinding: a page served under another name is not answered
        assert request(d.url, "/", headers={"Host": "evil.example:80"})[0] == 421
        assert request(d.url, "/api/status", headers={"Host": "evil.example"})[0] == 421
        code, page = request(d.url, "/", headers={"Host": host.replace("127.0.0.1",
                                                                       "localhost")})
        assert code == 200 and "<title>" in page
        # nothing was given by any of the refused requests
        assert snapshot(d.url)["status"]["lockout_s"] == 0


def test_page_headers_forbid_framing_and_outside_resources(tmp_path):
    with in_process(tmp_path, LOCKOUT) as d:
        u = urllib.parse.urlsplit(d.url)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
        conn.request("GET", "/")
        r = conn.getresponse()
        r.read()
        conn.close()
        assert r.getheader("X-Frame-Options") == "DENY"
        assert "frame-ancestors 'none'" in r.getheader("Content-Security-Policy")
        assert "default-src 'none'" in r.getheader("Content-Security-Policy")


def test_loopback_only_unless_public(tmp_path, capsys):
    keys = str(tmp_path / "k.json")
    for where in ("0.0.0.0:0", "192.0.2.1:8077"):
        code = main(["dashboard", LOCKOUT, "--listen", where, "--keys", keys])
        err = capsys.readouterr().err
        assert code == 2 and "not a loopback address" in err and "--public" in err
    assert not os.path.exists(keys)            # refused before any key file is made
    assert dashboard.is_loopback("127.0.0.1") and dashboard.is_loopback("localhost")
    assert dashboard.is_loopback("::1") and dashboard.is_loopback("127.0.0.2")
    assert not dashboard.is_loopback("0.0.0.0") and not dashboard.is_loopback("192.0.2.1")
    args = build_parser().parse_args(["dashboard", LOCKOUT, "--listen", "0.0.0.0:0",
                                      "--public", "--keys", keys])
    dash, url, _ = dashboard.build(args, out=None)
    try:
        assert dash.httpd.server_address[0] == "0.0.0.0" and dash.public
    finally:
        dash.close()


@pytest.mark.parametrize("argv, words", [
    ([LOCKOUT, "--port", "socket://127.0.0.1:9"], "not both"),
    (["--port", "socket://127.0.0.1:9", "--speed", "60"], "for a simulated pump"),
    ([LOCKOUT, "--speed", "20000"], "argument --speed"),
    ([LOCKOUT, "--speed", "0.5"], "argument --speed"),
    ([LOCKOUT, "--listen", "127.0.0.1:99999"], "--listen 127.0.0.1:99999"),
    (["--port", "socket://nowhere"], "expected socket://HOST:PORT"),
    ([os.path.join(ROOT, "no-such.toml")], "no-such.toml: cannot read"),
])
def test_bad_arguments_exit_2(tmp_path, capsys, monkeypatch, argv, words):
    monkeypatch.delenv("PUMPCTL_PORT", raising=False)
    code = main(["dashboard", *argv, "--keys", str(tmp_path / "k.json")])
    assert code == 2 and words in capsys.readouterr().err


def test_no_pump_given(capsys, monkeypatch):
    monkeypatch.delenv("PUMPCTL_PORT", raising=False)
    assert main(["dashboard"]) == 2
    assert "no pump given" in capsys.readouterr().err


def test_hub_queues_are_bounded():
    hub = dashboard.Hub()
    q = hub.subscribe()
    for i in range(100):
        hub.publish(str(i))
    assert q.qsize() == dashboard.QUEUE and hub.latest == "99"
    assert [q.get_nowait() for _ in range(dashboard.QUEUE)] == \
        [str(i) for i in range(100 - dashboard.QUEUE, 100)]
    others = [hub.subscribe() for _ in range(dashboard.MAX_STREAMS - 1)]
    assert None not in others and hub.subscribe() is None
    hub.close()
    assert q.get_nowait() is None and hub.subscribe() is None


def test_sigterm_stops_cleanly_with_a_stream_open(tmp_path):
    with child(tmp_path, LOCKOUT, "--speed", "600") as p:
        u = urllib.parse.urlsplit(p.url)
        sock = socket.create_connection((u.hostname, u.port), timeout=5)
        sock.sendall(f"GET /events HTTP/1.1\r\nHost: {u.netloc}\r\n\r\n".encode())
        assert sock.recv(4096).startswith(b"HTTP/1.0 200")
        t0 = time.monotonic()
        p.proc.send_signal(signal.SIGTERM)
        p.proc.wait(timeout=10)
        assert time.monotonic() - t0 < 5
        sock.close()


def test_a_board_through_its_link(tmp_path, monkeypatch):
    """--port: the dashboard is one more host on a served pump, with the same key file; and
    read-only without one."""
    keys = str(tmp_path / "served-keys.json")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pumpctl.cli", "sim", LOCKOUT, "--serve", "127.0.0.1:0",
         "--speed", "60", "--keys", keys, "--device", "board-1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        url = re.search(r" on (\S+) at ", line).group(1)
        args = build_parser().parse_args(["dashboard", "--port", url, "--keys", keys,
                                          "--listen", "127.0.0.1:0"])
        dash, web, about = dashboard.build(args, out=None)
        try:
            dash.start()
            st = snapshot(web)
            assert st["source"] == {"kind": "board", "url": url, "title": "",
                                    "description": ""}
            assert st["pump"]["device"] == "board-1"
            assert st["reservoir"]["capacity_nl"] == 40_000_000    # boards/virtual.toml
            code, r = request(web, "/api/bolus", "POST", {})
            assert code == 200, r
            code, r = request(web, "/api/speed", "POST", {"speed": 10})
            assert code == 400 and "simulated" in r["message"]
        finally:
            dash.close()
        assert load_keys(keys)[0] == "board-1"
        args = build_parser().parse_args(["dashboard", "--port", url, "--listen",
                                          "127.0.0.1:0", "--keys",
                                          str(tmp_path / "none.json")])
        with pytest.raises(Exception, match="cannot read key file"):
            dashboard.build(args, out=None)
            monkeypatch.delenv("PUMPCTL_KEYS", raising=False)
        monkeypatch.chdir(tmp_path)         # no ./pump-keys.json: read-only
        args = build_parser().parse_args(["dashboard", "--port", url, "--listen",
                                          "127.0.0.1:0"])
        dash, web, about = dashboard.build(args, out=None)
        try:
            dash.start()
            assert "read-only" in about
            assert snapshot(web)["roles"] == {"patient": False, "clinician": False}
            code, r = request(web, "/api/bolus", "POST", {})
            assert code == 403 and "key" in r["message"]
        finally:
            dash.close()
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


# ---- the teaching examples ----

def _run(path, events=None):
    sc = load_scenario(path)
    sim = Simulation(sc.board, sc.programme, sc.events if events is None else events,
                     sc.fill_nl)
    return sc, sim, sim.run(sc.days * 86400)


def test_teaching_examples_are_there_with_their_texts():
    names = [os.path.basename(p) for p in LESSONS]
    assert len(names) >= 3 and {"why-lockout.toml", "empty-reservoir.toml",
                                "bridge-bolus.toml"} <= set(names)
    readme = open(os.path.join(TEACHING, "README.md")).read()
    for path in LESSONS:
        raw = open(path).read()
        assert re.search(r'^title = ".+"', raw, re.M), path
        assert re.search(r'^description = """\n.{200,}"""', raw, re.M | re.S), path
        assert os.path.basename(path) in readme, path


@pytest.mark.parametrize("path", LESSONS, ids=os.path.basename)
def test_teaching_example_runs(path, capsys):
    assert main(["sim", path]) == 0
    out = capsys.readouterr().out
    s = _run(path)[2]
    assert s["max_abs_error_steps"] < 1 and not s["violations"]
    assert f"{s['boluses_given']} given" in out


@pytest.mark.parametrize("path", LESSONS, ids=os.path.basename)
def test_teaching_example_on_the_dashboard(path, tmp_path):
    with in_process(tmp_path, path, "--speed", "600", "--play-events") as d:
        st = snapshot(d.url)
        assert st["source"]["description"] and st["status"]["flags"] & 4   # programmed
        assert "\n" not in st["source"]["description"]       # one paragraph, lines joined


def test_why_lockout_refuses_presses_in_lockout_then_by_count():
    s = _run(LOCKOUT)[2]
    assert s["boluses_given_by_kind"] == {"patient": 4}
    assert s["boluses_refused"] == {"lockout": 20, "count_24h": 6}
    # 30 presses asked for 1,500 ug; 200 were given, under the 400 ug/day basal
    assert 30 * 50 == 1500


def test_empty_reservoir_warns_stops_refuses_and_resumes():
    s = _run(os.path.join(TEACHING, "empty-reservoir.toml"))[2]
    assert [(a["code"], a["first"]) for a in s["alarms"]] == [
        ("low_reservoir", "1d 06:00:00"), ("empty_reservoir", "2d 12:00:00")]
    assert s["boluses_refused"] == {"critical_alarm": 1}
    assert s["delivering_at_end"] and s["active_alarms"] == []
    assert s["reservoir_nl_end"] > 19_000_000


def test_bridge_bolus_keeps_the_dose_after_a_concentration_change():
    """With the bridge, the 24 h after the change deliver the prescribed 200 ug; without it,
    the old weak drug in the line makes it 50 ug/day for two and a half days."""
    path = os.path.join(TEACHING, "bridge-bolus.toml")
    sc = load_scenario(path)
    change = 86400 + 10 * 3600

    def delivered_ug(events, hours):
        sim = Simulation(sc.board, sc.programme, events, sc.fill_nl)
        sim.start(sc.days * 86400)
        sim.advance_to(change - 1)
        before = sim.pump.ledger.total_pg
        sim.advance_to(change - 1 + hours * 3600)
        return (sim.pump.ledger.total_pg - before) / 1e6, sim

    with_bridge, sim = delivered_ug(sc.events, 24)
    assert with_bridge == pytest.approx(200, abs=1)
    assert sim.given == {2: 1}                               # BOLUS_BRIDGE
    without = [e for e in sc.events if e["action"] != "bridge"]
    assert delivered_ug(without, 24)[0] == pytest.approx(50, abs=1)
    assert delivered_ug(without, 60)[0] == pytest.approx(125, abs=1)    # 2.5 days
    bridge = [r for r in sim.pump.log.since(0) if r[2] == 3]            # E_BOLUS_START
    assert bridge[0][4] == 125                                          # ug of old drug


# ---- reviewed defects ----

def _served(keys, port, scenario=LOCKOUT):
    """`pumpctl sim SCENARIO --serve 127.0.0.1:PORT` in its own process; (process, URL)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pumpctl.cli", "sim", scenario, "--serve", f"127.0.0.1:{port}",
         "--keys", keys, "--device", "board-1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    m = re.search(r" on (\S+) at ", line)
    if not m:
        proc.kill()
        raise AssertionError("not served: " + line + proc.stderr.read())
    return proc, m.group(1)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_log_going_backwards_restarts_the_event_list(tmp_path):
    """A served pump restarted on the same port starts its log again: the old pump's events
    are dropped, a 'log restarted' row says so, and the new log is read from its start."""
    keys = str(tmp_path / "served-keys.json")
    port = _free_port()
    proc, url = _served(keys, port)
    try:
        args = build_parser().parse_args(["dashboard", "--port", url, "--keys", keys,
                                          "--listen", "127.0.0.1:0"])
        dash, web, _ = dashboard.build(args, out=None)
        try:
            dash.start()
            assert request(web, "/api/bolus", "POST", {})[0] == 200
            assert request(web, "/api/refill", "POST", {"added_ul": 20000,
                                                       "aspirated_ul": 0})[0] == 200
            old = snapshot(web)
            old_next = old["events"][-1]["seq"] + 1
            proc.terminate()
            proc.communicate(timeout=10)
            proc, url = _served(keys, port)
            code, r = request(web, "/api/refill", "POST", {"added_ul": 15000,
                                                          "aspirated_ul": 0})
            if code != 200:                  # the first try may only have found the link down
                time.sleep(dashboard.RETRY_S + 0.1)
                code, r = request(web, "/api/refill", "POST", {"added_ul": 15000,
                                                              "aspirated_ul": 0})
            assert code == 200, r
            st = snapshot(web)                # (the POST's answer waits for a refresh)
            assert st["status"]["log_seq"] < old_next
            assert st["events"][0]["name"] == "log restarted"
            assert [e["name"] for e in st["events"][1:]][:4] == ["refill", "programme",
                                                                 "refill", "alarm"]
            seqs = [e["seq"] for e in st["events"][1:]]
            assert seqs == sorted(seqs) and seqs[-1] < st["status"]["log_seq"]
            assert st["events_epoch"] == 1 and st["events_lost"] == 0
            assert st["programme"]["lockout_s"] == 3600
            assert st["reservoir"]["scale_nl"] == 40_000_000 or \
                st["reservoir"]["scale_nl"] <= 20_000_000
        finally:
            dash.close()
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_refill_over_the_link_refills_the_simulated_reservoir(tmp_path):
    """The simulator's true reservoir follows a refill the pump accepted over the link, as
    it follows a scripted one: no pumping air after the refill."""
    with in_process(tmp_path, os.path.join(TEACHING, "empty-reservoir.toml")) as d:
        code, r = request(d.url, "/api/refill", "POST", {"added_ul": 5000,
                                                        "aspirated_ul": 0})
        assert code == 200, r
        true_nl = d.sim.served.sim.reservoir.volume_nl
        assert 5_000_000 - 10_000 < true_nl <= 5_000_000      # a second or so of delivery


def test_odd_values_and_our_own_faults_are_answered(tmp_path, monkeypatch):
    """A digit that is not ASCII is refused; a fault in the dashboard is a 500 answer; a
    fault in the watcher is shown on the page, not a frozen page with a green dot."""
    with pytest.raises(dashboard.CommandError, match="added_ul"):
        dashboard._ul({"added_ul": "\u00b2"}, "added_ul")
    assert dashboard._ul({"added_ul": " 12 "}, "added_ul") == 12
    with in_process(tmp_path, LOCKOUT) as d:
        code, r = request(d.url, "/api/refill", "POST", {"added_ul": "\u00b2",
                                                        "aspirated_ul": 0})
        assert code == 400 and "added_ul" in r["message"]

        def broken(*a):
            raise RuntimeError("boom")
        monkeypatch.setattr(d.watcher, "command", broken)
        code, r = request(d.url, "/api/bolus", "POST", {})
        assert code == 500 and not r["ok"] and "RuntimeError: boom" in r["message"]
        monkeypatch.setattr(d.watcher, "refresh", broken)
        st = wait_for(lambda: (s := snapshot(d.url)) and not s["link"]["ok"] and s,
                      what="the watcher's fault on the page")
        assert "RuntimeError: boom" in st["link"]["error"]


def test_every_alarm_has_a_text_on_the_page():
    from pump.names import ALARM_NAMES
    page = open(dashboard.PAGE, encoding="utf-8").read()
    table = page[page.index("const ALARM_TEXT = {"):]
    table = table[:table.index("};")]
    assert set(re.findall(r"^\s+(\w+):", table, re.M)) == set(ALARM_NAMES[1:])


def test_snapshots_name_the_run_and_the_page_knows_it(tmp_path):
    """The page reloads itself when the snapshots come from another run of the server (its
    token would be refused)."""
    with in_process(tmp_path, LOCKOUT) as d:
        _, page = request(d.url, "/")
        inst = re.search(r'name="pumpctl-instance" content="([0-9a-f]+)"', page).group(1)
        assert snapshot(d.url)["instance"] == inst
        assert "location.reload()" in page
