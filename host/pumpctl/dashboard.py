"""pumpctl dashboard: a pump live in a web browser, for testers and for a classroom.

  pumpctl dashboard SCENARIO.toml [--speed X] [--play-events]   the scenario's simulated pump
  pumpctl dashboard --port URL                                  a board, or a served pump
      [--keys FILE] [--patient-only] [--listen HOST:PORT] [--public] [--open]

The page (dashboard.html, one static file) shows mode and rates, the reservoir against its
thresholds, the lockout countdown, the alarms with their tone pattern, the next periodic bolus,
the refill forecast and the event log, pushed by server-sent events; its buttons send a patient
bolus, an alarm acknowledgement or a refill through the same Client as the CLI (signed, sent
once, never resent). Manual: docs/dashboard.md.

Threads, and why none of them can hold the pump up:
- The simulated pump is pumpsim.serve.Served, exactly as `pumpctl sim --serve` runs it, on a
  loopback socket of its own, in its own thread; the dashboard is one more host on its link.
  Served bounds what it buffers for a host, so a stuck dashboard costs the pump nothing.
- One watcher thread owns the Client: every POLL_S it asks for the status (and the log records
  that are new) and publishes a complete snapshot. Commands from the page take the Client under
  the same lock: one at a time, each sent once.
- The HTTP server (stdlib ThreadingHTTPServer): the page, JSON, and one thread per event
  stream. Each stream has a queue of QUEUE snapshots; a browser that falls behind loses the
  oldest (every snapshot is complete), and at most MAX_STREAMS streams are served.

Security: loopback only unless --public; POSTs need the page's per-run token in a header, a
JSON body, an Origin (if any) and Host of this server, so another web site open in the same
browser cannot press the buttons, and DNS rebinding cannot reach the page.
"""
import argparse
import collections
import http.server
import ipaddress
import json
import os
import queue
import secrets
import signal
import socket
import threading
import time
import webbrowser

from pump import alarms as pump_alarms
from pump.codes import ALARM_PRIORITY, R_LOCKOUT
from pump.names import ALARM_NAMES, PRIORITY_NAMES
from pumpctl import show
from pumpctl.client import BadValue, Client, LinkError, NoKey, Refused, Timeout
from pumpctl.errors import CommandError
from pumpctl.keys import check_device, counters_path, load_keys, new_keys
from pumpsim.scenario import clock
from pumpwire import reasons
from pumpwire.auth import CLINICIAN, PATIENT
from pumpwire.messages import TONE_CRITICAL, TONE_WARNING

DEFAULT_LISTEN = "127.0.0.1:8077"
POLL_S = 0.25            # real seconds between status reads
RETRY_S = 1.0            # real seconds between attempts to reopen a failed link
KEEP_EVENTS = 120        # log records held and sent with each snapshot
QUEUE = 4                # snapshots waiting per event stream
MAX_STREAMS = 32
KEEPALIVE_S = 10.0
MAX_BODY = 4096
MIN_SPEED, MAX_SPEED = 1.0, 10000.0
MAX_UL = 0xFFFFFFFF // 1000
PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dashboard.html")

TONES = {TONE_CRITICAL: ("critical", pump_alarms.TONE_CRITICAL),
         TONE_WARNING: ("warning", pump_alarms.TONE_WARNING)}


# ---- fan-out of snapshots to event streams ----

class Hub:
    """The latest snapshot, and a bounded queue per event stream."""

    def __init__(self):
        self._lock = threading.Lock()
        self._queues = set()
        self.latest = None
        self.closed = False

    def subscribe(self):
        """A queue for one stream, or None if MAX_STREAMS are open (or the hub is closed)."""
        with self._lock:
            if self.closed or len(self._queues) >= MAX_STREAMS:
                return None
            q = queue.Queue(QUEUE)
            self._queues.add(q)
            return q

    def unsubscribe(self, q):
        with self._lock:
            self._queues.discard(q)

    def publish(self, text):
        with self._lock:
            self.latest = text
            for q in self._queues:
                _put_dropping_oldest(q, text)

    def close(self):
        """Wake every stream with None: it ends."""
        with self._lock:
            self.closed = True
            for q in self._queues:
                _put_dropping_oldest(q, None)


def _put_dropping_oldest(q, item):
    while True:
        try:
            q.put_nowait(item)
            return
        except queue.Full:
            try:
                q.get_nowait()
            except queue.Empty:
                pass


# ---- the pump, watched through the CLI's Client ----

class Watcher:
    """Owns the Client. `open_client()` makes one (a reconnect makes another); `keys` are the
    roles this dashboard may sign as; `source` describes the pump for the page."""

    def __init__(self, open_client, keys, source, hub, capacity_nl=None, sim=None,
                 board_capacity=None):
        self.open_client = open_client
        self.roles = {"patient": PATIENT in keys or CLINICIAN in keys,
                      "clinician": CLINICIAN in keys}
        self.source = source
        self.hub = hub
        self.instance = secrets.token_hex(8)     # this run: a page from another one reloads
        self.capacity_nl = capacity_nl
        self.board_capacity = board_capacity     # board name -> reservoir nL, or None
        self.seen_max_nl = 0
        self.last_fill_nl = 0            # the last refill's volume seen in the log
        self.sim = sim
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.client = None
        self.info = None
        self.status = None
        self.error = ""
        self.programme = None
        self.events = collections.deque(maxlen=KEEP_EVENTS)
        self.next_seq = None
        self.log_epoch = 0               # counts the times the pump's log went backwards
        self._device = None              # the pump whose log the events are from
        self.lost = 0                    # records overwritten in the pump before we read them
        self.serial = 0
        self._retry_at = 0.0
        self._thread = threading.Thread(target=self._run, name="dashboard-watcher",
                                        daemon=True)

    def start(self):
        with self.lock:
            self.refresh()
        self._thread.start()

    def close(self):
        self.stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        with self.lock:
            self._drop_client()

    def _run(self):
        while not self.stop.is_set():
            t0 = time.monotonic()
            with self.lock:
                try:
                    self.refresh()
                except Exception as e:       # never a frozen page with a green dot
                    self.error = f"dashboard error: {type(e).__name__}: {e}"
                    self._drop_client()
                    try:
                        self.publish()
                    except Exception:
                        pass
            self.stop.wait(max(0.0, POLL_S - (time.monotonic() - t0)))

    # -- reading (callers hold self.lock) --

    def _connected(self):
        if self.client is None:
            if time.monotonic() < self._retry_at:
                raise LinkError(self.error or "link down")
            self._retry_at = time.monotonic() + RETRY_S
            c = self.open_client()
            try:
                self.info = c.hello()
            except BaseException:
                c.close()
                raise
            self.client = c
            if self.board_capacity is not None:      # (another pump may answer on the URL)
                self.capacity_nl = self.board_capacity(self.info["board"])
        return self.client

    def _drop_client(self):
        if self.client is not None:
            try:
                self.client.close()
            except OSError:
                pass
            self.client = None

    def refresh(self):
        """Read the status and any new log records; publish a snapshot. Never raises for a
        link failure: the page shows it, and the next poll tries again."""
        try:
            c = self._connected()
            st = c.status()
            if self.next_seq is not None and (self.info["device"] != self._device or
                                              st["log_seq"] < self.next_seq):
                self._log_restarted(st)
            if self.next_seq is None:
                self.next_seq = max(0, st["log_seq"] - KEEP_EVENTS)
                self._device = self.info["device"]
                self._read_programme(c)
            if st["log_seq"] > self.next_seq:
                self._read_log(c)
            self.status = st
            self.seen_max_nl = max(self.seen_max_nl, st["reservoir_nl"])
            self.error = ""
        except (LinkError, OSError) as e:
            self.error = str(e) or type(e).__name__
            self._drop_client()
        except Exception as e:               # a reply we did not expect: shown, then retried
            self.error = f"dashboard error: {type(e).__name__}: {e}"
            self._drop_client()
        if self.sim is not None and self.sim.error:
            self.error = self.sim.error
        self.publish()

    def _log_restarted(self, st):
        """The pump's log went backwards (a board that lost its state, another pump on the
        URL, a served pump restarted): the events so far are another log's. Start again."""
        same = self.info["device"] == self._device
        why = (f"log at {st['log_seq']}, expected {self.next_seq} or more" if same else
               f"device {self._device} -> {self.info['device']}")
        self.events.clear()
        self.events.append({"seq": "—", "time_s": None, "time": "", "name": "log restarted",
                            "detail": why, "kind": "alarm-warning"})
        self.log_epoch += 1
        self.next_seq = None                 # the caller re-reads the log and the programme
        self.lost = 0
        self.seen_max_nl = 0
        self.last_fill_nl = 0
        self.programme = None

    def _read_log(self, c):
        records, end = c.log_all(self.next_seq)
        if records and records[0]["seq"] > self.next_seq and self.events and \
                self.events[-1]["time_s"] is not None:      # (not just after a restart row)
            self.lost += records[0]["seq"] - self.next_seq
        changed = False
        for r in records:
            name, detail = show.event_words(r)
            self.events.append({"seq": r["seq"], "time_s": r["time_s"],
                                "time": clock(r["time_s"]), "name": name,
                                "detail": detail, "kind": _event_kind(name, r)})
            changed = changed or name == "programme"
            if name == "refill":
                self.last_fill_nl = r["a"]
        self.next_seq = end["next_seq"]
        if changed:
            self._read_programme(c)

    def _read_programme(self, c):
        """The programme in force, for the lockout's length and the reservoir's thresholds."""
        try:
            text, _ = c.read_programme(0)
            self.programme = json.loads(text) if text else None
        except (LinkError, ValueError):
            self.programme = None

    # -- the snapshot --

    def snapshot(self):
        st = self.status
        out = {"serial": self.serial, "instance": self.instance, "source": self.source,
               "roles": self.roles, "events_epoch": self.log_epoch,
               "link": {"ok": not self.error, "error": self.error},
               "pump": None, "status": None, "words": None, "alarms": [], "tone": None,
               "programme": _programme_facts(self.programme), "events": list(self.events),
               "events_lost": self.lost,
               "reservoir": {"capacity_nl": self.capacity_nl,
                             "scale_nl": max(self.seen_max_nl, self.last_fill_nl) or
                             self.capacity_nl}}
        if self.sim is not None:
            out["source"] = dict(self.source, speed=self.sim.speed)
        if self.info is not None:
            fw = self.info["firmware"]
            out["pump"] = {"device": self.info["device"], "board": self.info["board"],
                           "firmware": f"{fw >> 16}.{fw >> 8 & 255}.{fw & 255}",
                           "protocol": self.info["protocol"]}
        if st is not None:
            out["status"] = st
            out["words"] = show.status_words(st)
            out["alarms"] = [_alarm(code, st) for code in show.alarm_codes(st["alarm_bits"])]
            name, pattern = TONES.get(st["tone"], ("off", ()))
            out["tone"] = {"name": name, "pattern": [list(p) for p in pattern],
                           "silenced": out["words"]["silenced"]}
        return out

    def publish(self):
        self.serial += 1
        self.hub.publish(json.dumps(self.snapshot(), separators=(",", ":")))

    # -- commands from the page (one at a time, each sent once) --

    def command(self, action, body):
        """Carry out one action; returns (http status, result dict)."""
        with self.lock:
            try:
                if action == "speed":
                    return 200, self._speed(body)
                try:
                    c = self._connected()
                except (LinkError, OSError) as e:
                    return 503, _result(False, f"the pump is not reachable: {e}")
                if action == "bolus":
                    return 200, self._bolus(c)
                if action == "ack":
                    return 200, self._ack(c, body)
                if action == "refill":
                    return 200, self._refill(c, body)
                return 404, _result(False, f"no action '{action}'")
            except Refused as e:
                return 409, self._refused(e)
            except (NoKey, CommandError, BadValue) as e:
                return (403 if isinstance(e, NoKey) else 400), _result(False, str(e))
            except Timeout as e:
                self._drop_client()
                return 504, _result(False, str(e))
            except (LinkError, OSError) as e:
                self._drop_client()
                return 502, _result(False, f"{e}; it may have acted: read the event log "
                                    "before trying again")
            finally:
                self.refresh()

    def _bolus(self, c):
        if not self.roles["patient"]:
            raise NoKey("no key: a patient bolus needs the patient (or clinician) key")
        dose = c.patient_bolus()
        return _result(True, f"patient bolus started: {dose} ug")

    def _ack(self, c, body):
        name = body.get("alarm")
        if name not in ALARM_NAMES[1:]:
            raise CommandError(f"no alarm called {name!r} (one of: {', '.join(ALARM_NAMES[1:])})")
        if CLINICIAN not in c.keys:
            raise NoKey(f"no clinician key: acknowledging {name} needs one")
        code = ALARM_NAMES.index(name)
        c.alarm_ack(code)
        return _result(True, f"acknowledged {show.alarm_label(code)}")

    def _refill(self, c, body):
        added = _ul(body, "added_ul")
        aspirated = _ul(body, "aspirated_ul")
        if added == 0:
            raise CommandError("added_ul 0 would set the reservoir estimate to 0 and stop "
                               "delivery (empty_reservoir); give the microlitres put in")
        if CLINICIAN not in c.keys:
            raise NoKey("no clinician key: a refill needs one")
        expected_ul = body.get("expected_ul")
        expected = _ul(body, "expected_ul") * 1000 if expected_ul not in (None, "") else \
            c.status()["reservoir_nl"]
        c.refill(expected, aspirated * 1000, added * 1000)
        disc = aspirated * 1000 - expected
        return _result(True, f"refilled: {added / 1000:g} mL in; aspirated "
                       f"{aspirated / 1000:g} mL against {expected / 1e6:.3f} mL expected "
                       f"({disc / 1e6:+.3f} mL)")

    def _speed(self, body):
        if self.sim is None:
            raise CommandError("only a simulated pump's clock can change speed")
        speed = body.get("speed")
        if isinstance(speed, bool) or not isinstance(speed, (int, float)) or \
                not MIN_SPEED <= speed <= MAX_SPEED:
            raise CommandError(f"speed: must be a number from {MIN_SPEED:g} to "
                               f"{MAX_SPEED:g}, not {speed!r}")
        self.sim.set_speed(float(speed))
        return _result(True, f"simulated clock at {speed:g}x")

    def _refused(self, e):
        if e.reason == reasons.N_REPLAY:
            return _result(False, f"{e}: if the link delivered this command twice, it may "
                           "have acted; read the event log before sending it again",
                           reason=e.reason_name)
        hint = e.hint or show.refusal_hint(e.msg_name, e.reason, e.detail)
        if e.reason == R_LOCKOUT:
            try:
                left = self.client.status()["lockout_s"]
                if left:
                    hint = f"the next patient bolus is allowed in {show.duration(left)}"
            except LinkError:
                pass
        return _result(False, f"{e}; nothing changed", reason=e.reason_name, hint=hint)


def _result(ok, message, reason=None, hint=""):
    out = {"ok": ok, "message": message}
    if reason is not None:
        out["refused"] = {"reason": reason, "hint": hint}
    return out


def _ul(body, field):
    v = body.get(field)
    if isinstance(v, str) and v.strip().isascii() and v.strip().isdigit():
        v = int(v.strip())
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_UL:
        raise CommandError(f"{field}: must be a whole number of microlitres from 0 to "
                           f"{MAX_UL}, not {v!r}")
    return v


def _alarm(code, st):
    prio = ALARM_PRIORITY[code] if code < len(ALARM_PRIORITY) else None
    return {"code": code, "name": show.alarm_name(code),
            "priority": PRIORITY_NAMES[prio] if prio is not None else "",
            "acked": not st["unacked_bits"] >> code & 1}


def _event_kind(name, rec):
    if name == "alarm":
        b = rec["b"]
        return "alarm-" + (PRIORITY_NAMES[b] if 0 <= b < len(PRIORITY_NAMES) else "warning")
    return {"bolus_start": "bolus", "bolus_end": "bolus", "bolus_refused": "refused",
            "bolus_aborted": "refused", "refill": "refill", "refill_rejected": "refused",
            "programme": "programme", "stop": "refused", "fault": "alarm-critical",
            "state_lost": "alarm-critical"}.get(name, "")


def _programme_facts(p):
    """What the page needs from the programme in force (defaults as the pump applies them)."""
    if not isinstance(p, dict):
        return None
    pb = p.get("patient_bolus") if isinstance(p.get("patient_bolus"), dict) else {}
    low = p.get("low_reservoir_ul", show.DEFAULTS["low_reservoir_ul"])
    empty = p.get("empty_reservoir_ul", show.DEFAULTS["empty_reservoir_ul"])
    return {"mode": p.get("mode"), "concentration_ug_per_ml": p.get("concentration_ug_per_ml"),
            "low_nl": low * 1000 if isinstance(low, int) else None,
            "empty_nl": empty * 1000 if isinstance(empty, int) else None,
            "patient_bolus_ug": pb.get("amount_ug"),
            "lockout_s": pb["lockout_min"] * 60 if isinstance(pb.get("lockout_min"), int)
            else None,
            "max_per_24h": pb.get("max_per_24h")}


# ---- the simulated pump, in-process ----

class SimPump:
    """A Served simulated pump on a loopback socket, run by its own thread. Speed changes
    are handed to that thread (Served is single-threaded) through its stop callback."""

    def __init__(self, served, url):
        self.served = served
        self.url = url
        self.speed = served.speed
        self.error = ""
        self._stop = threading.Event()
        self._new_speed = None
        self._thread = threading.Thread(target=self._run, name="simulated-pump", daemon=True)

    def start(self):
        self._thread.start()

    def set_speed(self, speed):
        self._new_speed = speed
        self.speed = speed

    def _between_turns(self):
        speed, self._new_speed = self._new_speed, None
        if speed is not None:
            self.served.set_speed(speed)
        return self._stop.is_set()

    def _run(self):
        try:
            self.served.serve(stop=self._between_turns)
        except Exception as e:           # shown on the page: the pump stopped
            self.error = f"the simulated pump stopped: {type(e).__name__}: {e}"

    def close(self):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        self.served.close()


# ---- HTTP ----

class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def _handler(dash):
    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "pumpctl-dashboard"
        sys_version = ""

        def log_message(self, fmt, *args):      # the commands are logged, not every GET
            pass

        def _send(self, code, body, ctype="application/json", extra=()):
            data = body if isinstance(body, bytes) else body.encode()
            self.send_response(code)
            self.send_header("Content-Type", ctype + "; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            for k, v in extra:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _json(self, code, obj):
            self._send(code, json.dumps(obj))

        def _host_ok(self):
            return dash.public or self.headers.get("Host", "") in dash.hosts

        def do_GET(self):
            if not self._host_ok():
                return self._json(421, _result(False, "unknown Host for this dashboard"))
            path = self.path.split("?", 1)[0]
            if path == "/":
                return self._send(200, dash.page(), "text/html", (
                    ("Content-Security-Policy", "default-src 'none'; script-src "
                     "'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
                     "img-src data:; frame-ancestors 'none'; base-uri 'none'; "
                     "form-action 'none'"),
                    ("X-Frame-Options", "DENY"), ("Referrer-Policy", "no-referrer")))
            if path == "/events":
                return self._stream()
            if path == "/api/status":
                latest = dash.hub.latest
                if latest is None:
                    return self._json(503, _result(False, "no status yet"))
                return self._send(200, latest)
            return self._json(404, _result(False, f"nothing at {path}"))

        def do_POST(self):
            if not self._host_ok():
                return self._json(421, _result(False, "unknown Host for this dashboard"))
            origin = self.headers.get("Origin")
            if origin is not None and origin != "http://" + self.headers.get("Host", ""):
                return self._json(403, _result(False, "commands come from this dashboard's "
                                               "own page only"))
            if not secrets.compare_digest(self.headers.get("X-Pumpctl-Token", ""), dash.token):
                return self._json(403, _result(False, "missing or wrong X-Pumpctl-Token (it "
                                               "is in the page)"))
            if self.headers.get("Content-Type", "").split(";")[0].strip() != \
                    "application/json":
                return self._json(415, _result(False, "send JSON (Content-Type: "
                                               "application/json)"))
            try:
                n = int(self.headers.get("Content-Length", "0"))
            except ValueError:
                n = -1
            if not 0 <= n <= MAX_BODY:
                return self._json(413, _result(False, f"body of 0-{MAX_BODY} bytes expected"))
            try:
                body = json.loads(self.rfile.read(n) or b"{}")
            except ValueError:
                body = None
            if not isinstance(body, dict):
                return self._json(400, _result(False, "the body must be a JSON object"))
            path = self.path.split("?", 1)[0]
            if not path.startswith("/api/"):
                return self._json(404, _result(False, f"nothing at {path}"))
            try:
                code, result = dash.watcher.command(path[len("/api/"):], body)
            except Exception as e:           # a fault of ours: answered, never a dropped request
                code, result = 500, _result(False, f"dashboard error: {type(e).__name__}: {e} "
                                            "(the command may have reached the pump: read the "
                                            "event log)")
            dash.say(f"{path[len('/api/'):]}: {result['message']}")
            self._json(code, result)

        def _stream(self):
            q = dash.hub.subscribe()
            if q is None:
                return self._json(503, _result(False, "too many open dashboards"))
            try:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream; charset=utf-8")
                self.send_header("Cache-Control", "no-store")
                self.send_header("X-Accel-Buffering", "no")
                self.end_headers()
                self.wfile.write(b"retry: 1000\n\n")
                latest = dash.hub.latest
                if latest is not None:
                    self._event(latest)
                while True:
                    try:
                        item = q.get(timeout=KEEPALIVE_S)
                    except queue.Empty:
                        self.wfile.write(b": keepalive\n\n")
                        self.wfile.flush()
                        continue
                    if item is None:
                        return
                    self._event(item)
            except OSError:                 # the browser went away
                pass
            finally:
                dash.hub.unsubscribe(q)

        def _event(self, text):
            self.wfile.write(b"event: status\ndata: " + text.encode() + b"\n\n")
            self.wfile.flush()

    return Handler


class Dashboard:
    """The pump (a SimPump or a board's URL), its Watcher and the HTTP server. start() binds and
    runs everything in threads; close() stops it all."""

    def __init__(self, watcher, hub, sim=None, public=False, out=print):
        self.watcher = watcher
        self.hub = hub
        self.sim = sim
        self.public = public
        self.token = secrets.token_urlsafe(24)
        self.hosts = set()
        self.httpd = None
        self._out = out
        self._thread = None
        self._page = None

    def say(self, text):
        if self._out is not None:
            self._out(text)

    def page(self):
        if self._page is None:
            with open(PAGE, encoding="utf-8") as f:
                self._page = f.read().replace("{{TOKEN}}", self.token).replace(
                    "{{INSTANCE}}", self.watcher.instance if self.watcher else "")
        return self._page

    def bind(self, host, port):
        """Bind the web server (before anything else is made, so a busy port costs nothing)."""
        family, addr = _resolve(host, port)
        cls = type("Server", (_Server,), {"address_family": family})
        try:
            self.httpd = cls(addr, _handler(self))
        except OSError as e:
            raise CommandError(f"--listen {_join(host, port)}: {e.strerror or e}") from None
        port = self.httpd.server_address[1]
        shown = f"[{host}]" if ":" in host else host
        self.hosts = {f"{h}:{port}" for h in ("127.0.0.1", "localhost", "[::1]", shown)}
        return f"http://{shown}:{port}/"

    def start(self):
        if self.sim is not None:
            self.sim.start()
        self.watcher.start()
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.2,),
                                        name="dashboard-http", daemon=True)
        self._thread.start()

    def close(self):
        self.hub.close()                 # event streams end
        if self.httpd is not None:
            if self._thread is not None:
                self.httpd.shutdown()
            self.httpd.server_close()
        if self.watcher is not None:
            self.watcher.close()
        if self.sim is not None:
            self.sim.close()


def _join(host, port):
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _listen_address(text):
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", text
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise CommandError(f"--listen {text}: expected HOST:PORT or PORT, with PORT 0-65535 "
                           "(0: any free port)")
    return host.strip("[]") or "127.0.0.1", int(port)


def _resolve(host, port):
    try:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise CommandError(f"--listen {_join(host, port)}: {e.strerror}") from None
    return info[0][0], info[0][4]


def is_loopback(host):
    """True if every address the name stands for is a loopback one."""
    try:
        info = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return False
    return all(ipaddress.ip_address(i[4][0].split("%")[0]).is_loopback for i in info)


# ---- building it from the command line ----

def _board_capacity(name):
    """The reservoir size from boards/NAME.toml, if this host has the board's file."""
    from pumpsim.files import board_path, load_board
    from pumpsim.scenario import ScenarioError
    try:
        return load_board(board_path(name, os.path.join(os.getcwd(), "x.toml"))).reservoir_nl
    except ScenarioError:
        return None


def _sim_pump(args, keys_path):
    """The scenario's pump, served on a loopback socket as `sim --serve` serves it."""
    from pumpctl.commands import compact
    from pumpsim.engine import Simulation
    from pumpsim.files import load_scenario, read_toml
    from pumpsim.scenario import ScenarioError
    from pumpsim.serve import CounterError, CounterFile, Served, bind_tcp
    try:
        sc = load_scenario(args.scenario)
        meta = read_toml(args.scenario)
        sim = Simulation(sc.board, sc.programme, sc.events if args.play_events else (),
                         sc.fill_nl)
    except (ScenarioError, ValueError) as e:
        text = str(e)
        raise CommandError(text if text.startswith(args.scenario) else
                           f"{args.scenario}: {text}") from None
    listener = bind_tcp("127.0.0.1", 0)
    try:
        if os.path.exists(keys_path):
            device, keys = load_keys(keys_path)
        else:
            device, keys = new_keys(keys_path, args.device or "sim-" + secrets.token_hex(2))
        try:
            high_water = CounterFile(counters_path(keys_path)).load()
        except CounterError as e:
            raise CommandError(str(e)) from None
        served = Served(sim, keys, device, CounterFile(counters_path(keys_path)), high_water,
                        compact(sc.programme), args.speed)
        url = served.listen(listener)
        listener = None
    finally:
        if listener is not None:
            listener.close()
    source = {"kind": "simulated", "scenario": os.path.basename(args.scenario),
              "title": str(meta.get("title", "")),
              "description": _paragraphs(str(meta.get("description", ""))),
              "play_events": args.play_events}
    return SimPump(served, url), device, keys, sc.board.reservoir_nl, source


def _paragraphs(text):
    """A TOML multi-line text as paragraphs: lines joined, blank lines kept as breaks."""
    return "\n".join(" ".join(p.split()) for p in text.strip().split("\n\n") if p.strip())


def _say(text):
    print(time.strftime("%H:%M:%S ") + text, flush=True)


def build(args, out=_say):
    """A Dashboard (bound, not started) from the parsed arguments, and the lines to print."""
    from pumpctl.commands import DEFAULT_KEYS
    port_url = args.port or (None if args.scenario else os.environ.get("PUMPCTL_PORT"))
    if args.scenario and args.port:
        raise CommandError("give a SCENARIO.toml or --port URL, not both")
    if not args.scenario and not port_url:
        raise CommandError("no pump given: a SCENARIO.toml to simulate, or --port URL (or "
                           "set PUMPCTL_PORT)")
    if port_url and (args.play_events or args.speed is not None):
        raise CommandError("--speed and --play-events are for a simulated pump (a SCENARIO)")
    if args.device is not None:
        check_device(args.device, "--device")
    host, port = _listen_address(args.listen)
    if not args.public and not is_loopback(host):
        raise CommandError(f"--listen {args.listen}: not a loopback address: anyone who can "
                           "reach it could press this pump's buttons with your keys. Add "
                           "--public if that is what you mean")
    hub = Hub()
    dash = Dashboard(None, hub, public=args.public, out=out)
    url = dash.bind(host, port)
    try:
        explicit = args.keys or os.environ.get("PUMPCTL_KEYS")
        keys_path = explicit or DEFAULT_KEYS
        if args.scenario:
            args.speed = 1.0 if args.speed is None else args.speed
            sim, device, keys, capacity, source = _sim_pump(args, keys_path)
            dash.sim = sim
            link_url = sim.url
            about = (f"simulated pump '{device}' ({source['scenario']}) at {args.speed:g}x, "
                     f"keys {keys_path}")
        else:
            from pumpctl.commands import _check_url
            _check_url(port_url, "--port" if args.port else "PUMPCTL_PORT")
            sim = None
            link_url = port_url
            if explicit or os.path.exists(keys_path):
                device, keys = load_keys(keys_path)
            else:
                device, keys = None, {}
            source = {"kind": "board", "url": port_url, "title": "", "description": ""}
            capacity = None
            about = f"pump on {port_url}" + (f", keys {keys_path}" if keys else
                                             ", no key file: read-only")
        if args.patient_only:
            keys = {r: k for r, k in keys.items() if r == PATIENT}
        timeout = args.timeout
        dash.watcher = Watcher(lambda: Client(link_url, keys, timeout=timeout, device=device),
                               keys, source, hub, capacity, sim,
                               board_capacity=None if sim else _board_capacity)
    except BaseException:
        dash.close()
        raise
    return dash, url, about


def cmd_dashboard(args):
    stopping = threading.Event()
    # before anything is printed: a SIGTERM sent as soon as the address shows must stop us
    # cleanly, not by the default action
    previous = signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        dash, url, about = build(args)
        try:
            dash.start()
            print(f"dashboard on {url} for the {about}; Ctrl-C stops", flush=True)
            if dash.watcher.error:
                print(f"  (not answering yet: {dash.watcher.error})", flush=True)
            if args.open:
                webbrowser.open(url)
            try:
                while not stopping.wait(0.5):
                    pass
            except KeyboardInterrupt:
                pass
        finally:
            dash.close()
    finally:
        signal.signal(signal.SIGTERM, previous)
    if dash.sim is not None:
        s = dash.sim.served.sim.summary()
        print(f"stopped at {clock(dash.sim.served.sim.pump.now_s)}: delivered "
              f"{s['delivered_nl'] / 1e6:.3f} mL, {s['boluses_given']} boluses, reservoir "
              f"{s['reservoir_nl_end'] / 1e6:.3f} mL", flush=True)
    else:
        print("dashboard stopped", flush=True)


def _speed(text):
    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not MIN_SPEED <= v <= MAX_SPEED:
        raise argparse.ArgumentTypeError(f"must be a number of pump seconds per second from "
                                         f"{MIN_SPEED:g} to {MAX_SPEED:g}, not {text!r}")
    return v


def add_parser(sub, positive):
    p = sub.add_parser("dashboard", help="a pump live in a web browser (simulated or a board)",
                       description=__doc__.split("\n\n")[0],
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="See docs/dashboard.md.")
    p.add_argument("scenario", nargs="?", help="scenario file (TOML): simulate its pump")
    p.add_argument("--port", help="pyserial URL of a pump instead (default $PUMPCTL_PORT when "
                   "no scenario is given)")
    p.add_argument("--speed", type=_speed, help="with a scenario: pump seconds per real "
                   "second, 1-10000 (default 1); the page can change it")
    p.add_argument("--play-events", action="store_true", help="with a scenario: also play "
                   "its scripted [[events]] (presses, refills ...) on the pump's clock")
    p.add_argument("--keys", help="key file (default $PUMPCTL_KEYS or ./pump-keys.json; with a "
                   "scenario: created if missing; with --port: without one the page is "
                   "read-only)")
    p.add_argument("--device", help="with a scenario: device name for a new key file")
    p.add_argument("--patient-only", action="store_true",
                   help="sign as the patient only: the clinician actions are shown disabled")
    p.add_argument("--listen", default=DEFAULT_LISTEN, metavar="HOST:PORT",
                   help=f"where the page is served (default {DEFAULT_LISTEN}; port 0: any "
                   "free port); loopback only unless --public")
    p.add_argument("--public", action="store_true",
                   help="allow a --listen address other hosts can reach (anyone reaching it "
                   "can press the buttons)")
    p.add_argument("--open", action="store_true", help="open the page in a web browser")
    p.add_argument("--timeout", type=positive(" of seconds"), default=2.0,
                   help="seconds to wait for the pump's reply")
    p.set_defaults(func=cmd_dashboard)
