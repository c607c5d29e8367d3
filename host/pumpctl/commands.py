"""The pumpctl commands that talk to a pump over the link, and `sim --serve` that offers one.
Every value given on the command line is checked here (argparse types naming the option) before
anything is sent; the client's BadValue stays as the backstop."""
import argparse
import json
import math
import os
import secrets
import signal
import time
import tomllib

from pump import limits
from pump.codes import R_LOCKOUT
from pump.names import ALARM_NAMES
from pumpctl import show
from pumpctl.client import Client, LinkError, Refused
from pumpctl.errors import CommandError
from pumpctl.keys import check_device, counters_path, load_keys, new_keys
from pumpsim.engine import Simulation
from pumpsim.files import load_scenario
from pumpsim.scenario import ScenarioError, clock
from pumpwire.messages import ST_SILENCED, TONE_OFF

DEFAULT_KEYS = "pump-keys.json"
MAX_UL = 0xFFFFFFFF // 1000          # a volume field holds nL in 32 bits


def _keys_path(args):
    return args.keys or os.environ.get("PUMPCTL_KEYS") or DEFAULT_KEYS


def _check_url(url, where):
    """A socket:// URL needs HOST:PORT with PORT 1-65535 (pyserial's own error is obscure)."""
    if not url.startswith("socket://"):
        return
    host, sep, port = url[len("socket://"):].split("/")[0].split("?")[0].rpartition(":")
    if not (sep and host and port.isdigit() and 1 <= int(port) <= 65535):
        raise CommandError(f"{where} {url}: expected socket://HOST:PORT with PORT 1-65535")


def _connect(args, need_keys=False):
    """A Client for --port. Only commands that sign (need_keys) read the key file: reading
    needs no key, so a missing, broken or other pump's key file cannot stop `status`."""
    port = args.port or os.environ.get("PUMPCTL_PORT")
    if not port:
        raise CommandError("no pump given: --port URL (or set PUMPCTL_PORT)")
    _check_url(port, "--port" if args.port else "PUMPCTL_PORT")
    keys = device = None
    if need_keys:
        device, keys = load_keys(_keys_path(args))
    return Client(port, keys, timeout=args.timeout, device=device)


def compact(programme):
    """The programme's text on the wire: compact JSON, keys in the file's order."""
    try:
        return json.dumps(programme, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as e:
        raise CommandError(f"programme: {e} (a programme holds tables, lists, whole numbers "
                           "and strings)") from None


# ---- values on the command line (argparse types: the error names the option) ----

def whole(lo, hi=None, unit=""):
    """A whole number from lo to hi (None: no upper bound)."""
    span = f"from {lo} to {hi}" if hi is not None else f"of at least {lo}"

    def parse(text):
        try:
            v = int(text)
        except ValueError:
            v = None
        if v is None or v < lo or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"must be a whole number{unit} {span}, not "
                                             f"{text!r}")
        return v
    return parse


def positive(unit):
    """A positive, finite number."""
    def parse(text):
        try:
            v = float(text)
        except ValueError:
            v = math.nan
        if not 0 < v < math.inf:
            raise argparse.ArgumentTypeError(f"must be a positive number{unit}, not {text!r}")
        return v
    return parse


# ---- read-only ----

def cmd_status(args):
    with _connect(args) as c:
        info = c.hello()
        st = c.status()
    if args.json:
        print(json.dumps({"pump": info, "status": st, "words": show.status_words(st)},
                         indent=2, sort_keys=True))
    else:
        print(show.format_status(st, info))


def cmd_log(args):
    with _connect(args) as c:
        records, end = c.log_all(args.start)
    if args.json:
        print(json.dumps({"records": records, "end": end}, indent=1))
        return
    # The first record read says what was lost before it (the last batch's oldest_seq would
    # count records overwritten while reading, which were read already).
    first = records[0]["seq"] if records else end["oldest_seq"]
    if args.start < first and (records or args.start < end["log_seq"]):
        print(f"(events {args.start} to {first - 1} were overwritten in the pump's log before "
              "they were read)")
    for r in records:
        print(show.format_record(r))


def cmd_monitor(args):
    with _connect(args) as c:
        c.hello()
        st = c.status()
        print(show.monitor_line(st), flush=True)
        shown = 1
        seen = st["log_seq"]
        if args.count is not None and shown >= args.count:
            return
        c.telemetry(args.period)
        watch = Staleness(args.period)
        try:
            while args.count is None or shown < args.count:
                c.poll(0.1)
                if not c.pushes and watch.overdue():
                    _probe(c, args.period, watch)
                while c.pushes and (args.count is None or shown < args.count):
                    st = c.pushes.popleft().fields
                    watch.arrived()
                    print(show.monitor_line(st), flush=True)
                    shown += 1
                    if st["log_seq"] > seen:
                        records, end = c.log_all(seen)
                        for r in records:
                            print("    " + show.format_record(r), flush=True)
                        seen = end["next_seq"]
        except KeyboardInterrupt:
            pass                 # Ctrl-C is how a monitor without --count ends
        finally:
            try:
                c.telemetry(0)
            except LinkError:
                pass


class Staleness:
    """When telemetry is overdue: three of the gaps seen between pushes (the pump's clock may
    run faster than real time, in the simulator), and never less than 2 s."""

    def __init__(self, period_s):
        self.gap = float(period_s)
        self.last = time.monotonic()
        self.warned = False

    def arrived(self):
        now = time.monotonic()
        if self.warned:
            print("    telemetry is back", flush=True)
        self.gap, self.last, self.warned = now - self.last, now, False

    def overdue(self):
        return time.monotonic() - self.last > max(2.0, 3 * self.gap)


def _probe(c, period, watch):
    """Telemetry is overdue: ask directly. A pump that answers has lost the subscription (a
    restart): subscribe again. One that does not is reported, once per silence."""
    try:
        c.status()
        c.telemetry(period)
        watch.last = time.monotonic()
    except LinkError:
        if not watch.warned:
            print(f"!! no telemetry for {time.monotonic() - watch.last:.0f} s and no answer: "
                  "pump or link down", flush=True)
            watch.warned = True
        watch.last = time.monotonic()


# ---- commands ----

def cmd_bolus(args):
    kinds = sum(x for x in (args.ug is not None, args.priming, args.bridge))
    if kinds > 1:
        raise CommandError("give one of --ug, --priming, --bridge")
    if args.ug is not None and args.minutes is None:
        raise CommandError("--ug needs --minutes (the bolus duration)")
    if args.bridge and args.minutes is not None:
        raise CommandError("a bridge bolus lasts as the programmed rate sets; drop --minutes")
    if not kinds and args.minutes is not None:
        raise CommandError("a patient bolus has its programmed duration; drop --minutes")
    with _connect(args, need_keys=True) as c:
        if args.ug is not None:
            dose = c.bolus(args.ug, args.minutes * 60)
            print(f"clinician bolus started: {dose} ug over {args.minutes} min")
        elif args.priming:
            dose = c.priming((args.minutes or 0) * 60)
            print(f"priming started: {dose} ug of drug displaced")
        elif args.bridge:
            dose = c.bridge()
            print(f"bridge bolus started: {dose} ug")
        else:
            try:
                dose = c.patient_bolus()
            except Refused as e:
                if e.reason == R_LOCKOUT:
                    _lockout_hint(c, e)
                raise
            print(f"patient bolus started: {dose} ug")


def _lockout_hint(c, e):
    """Say how long the lockout has left (best effort: the refusal stands either way)."""
    try:
        left = c.status()["lockout_s"]
    except LinkError:
        return
    if left:
        e.hint = f"the next patient bolus is allowed in {show.duration(left)}"


def _whole_numbers(v, where=""):
    """Refuse any float in a programme, naming its field: the pump takes whole numbers only
    (and would say only "must be an integer")."""
    if isinstance(v, float):
        raise CommandError(f"{where}: must be a whole number, not {v!r}")
    if isinstance(v, dict):
        for k, x in v.items():
            _whole_numbers(x, f"{where}.{k}" if where else str(k))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            _whole_numbers(x, f"{where}[{i}]")


def load_programme(path):
    """A programme from a TOML or JSON file: the file itself, or its [programme] table."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise CommandError(f"{path}: cannot read: {e.strerror}") from None
    try:
        data = json.loads(raw) if path.endswith(".json") else tomllib.loads(raw.decode())
    except (ValueError, UnicodeDecodeError) as e:
        raise CommandError(f"{path}: cannot parse: {e}") from None
    if isinstance(data, dict) and isinstance(data.get("programme"), dict):
        data = data["programme"]
    if not isinstance(data, dict):
        raise CommandError(f"{path}: not a programme (expected a table)")
    try:
        _whole_numbers(data)
    except CommandError as e:
        raise CommandError(f"{path}: {e}") from None
    return data


def _discard_quietly(c):
    """Drop what this host staged, if the link still works; the pump's staging is in RAM
    and a later stage starts over anyway."""
    try:
        c.discard()
        return True
    except (LinkError, KeyboardInterrupt):
        return False


def cmd_program(args):
    pending = load_programme(args.file)
    text = compact(pending)
    with _connect(args, need_keys=True) as c:
        try:
            crc, window_ug = c.stage(text)
            answer = _review(c, args, pending, text, crc, window_ug)
        except KeyboardInterrupt:
            print()
            print("not committed; staged programme discarded" if _discard_quietly(c) else
                  "not committed; the staged programme could not be discarded")
            raise
        if answer == "dry run":
            c.discard()
            print("dry run: staged programme discarded")
            return 0
        if answer != "yes":
            c.discard()
            print("not committed; staged programme discarded")
            return 1
        c.commit(crc)
        print(f"committed: programme {crc:#010x} is in force")


def _review(c, args, pending, text, crc, window_ug):
    """Show in force vs staged; returns "yes", "no" or "dry run"."""
    current_text, _ = c.read_programme(0)      # after staging: the latest in force
    try:
        current = json.loads(current_text) if current_text else None
    except ValueError:
        current = {"(programme in force, unreadable)": current_text.decode("latin-1")}
    table, changed = show.side_by_side(current, pending)
    print(f"staged {len(text)} bytes, CRC-32 {crc:#010x}, read back and checked.\n")
    print(table)
    print(f"\n{changed} line(s) differ (*)." if changed else
          "\nThe staged programme is the same as the one in force.")
    cap = pending.get("max_ug_per_24h")
    above = isinstance(cap, int) and window_ug > cap
    print(f"Largest dose in any 24 h window across the change (the last 24 h's delivery "
          f"plus the new schedule): {window_ug} ug"
          + (f" — ABOVE the new max_ug_per_24h of {cap} ug" if above else ""))
    if above:
        print("  Committed now, the basal and periodic boluses run as programmed, but every "
              "bolus asked for (patient, clinician, bridge and priming too) is refused (ug_24h) "
              "until enough of the last 24 h's delivery has left the window: up to 24 h.")
    if args.dry_run:
        return "dry run"
    if args.yes:
        return "yes"
    try:
        answer = input(f"Commit programme {crc:#010x}? [y/N] ")
    except EOFError:
        print()
        answer = ""
    return "yes" if answer.strip().lower() in ("y", "yes") else "no"


def cmd_refill(args):
    if args.added_ul == 0:
        raise CommandError("--added-ul 0 would set the reservoir estimate to 0 and stop "
                           "delivery (empty_reservoir); give the microlitres put in")
    with _connect(args, need_keys=True) as c:
        expected = args.expected_ul * 1000 if args.expected_ul is not None else \
            c.status()["reservoir_nl"]
        c.refill(expected, args.aspirated_ul * 1000, args.added_ul * 1000)
        st = c.status()
    disc = args.aspirated_ul * 1000 - expected
    print(f"refilled: {args.added_ul / 1000:g} mL in; aspirated {args.aspirated_ul / 1000:g} mL "
          f"against {expected / 1e6:.3f} mL expected ({disc / 1e6:+.3f} mL)")
    if st["alarm_bits"]:
        print("alarms now: " + ", ".join(show.status_words(st)["alarms"]))


def cmd_alarms(args):
    if args.names and args.action != "ack":
        raise CommandError(f"alarms {args.action} takes no alarm name")
    for name in args.names:
        if name not in ALARM_NAMES[1:]:
            raise CommandError(f"no alarm called '{name}' (one of: "
                               f"{', '.join(ALARM_NAMES[1:])})")
    with _connect(args, need_keys=True) as c:
        if args.action == "ack":
            # Only alarms the user names, one by one: never "all", which would take along
            # an alarm raised after they last looked.
            if not args.names:
                waiting = show.alarm_codes(c.status()["unacked_bits"])
                if not waiting:
                    print("no alarm waits for acknowledgement")
                    return 0
                raise CommandError(
                    "name the alarms to acknowledge; waiting: " +
                    ", ".join(show.alarm_label(code) for code in waiting) +
                    " (e.g. pumpctl alarms ack " + show.alarm_name(waiting[0]) + ")")
            for name in args.names:
                code = ALARM_NAMES.index(name)
                c.alarm_ack(code)
                print(f"acknowledged {show.alarm_label(code)}")
        elif args.action == "silence":
            st = c.status()
            if st["tone"] == TONE_OFF:
                print("no alarm is sounding" +
                      (" (silenced already)" if st["flags"] & ST_SILENCED else "") +
                      "; nothing to silence")
                return 0
            c.alarm_silence()
            print(f"alarms silenced for {limits.SILENCE_S // 60} minutes")
        else:
            c.alarm_test()
            print("alarm test: critical tone, then warning tone")


def cmd_stop(args):
    with _connect(args, need_keys=True) as c:
        c.stop()
    print("delivery stopped")


def cmd_resume(args):
    with _connect(args, need_keys=True) as c:
        c.resume()
    print("delivery resumed")


def cmd_time_sync(args):
    with _connect(args, need_keys=True) as c:
        base = c.time_sync()
        st = c.status()
    print(f"pump clock {clock(st['time_s'])} is {show.wall(st['time_s'], base)}")


def cmd_keys(args):
    device, keys = new_keys(args.file, args.device if args.device is not None else
                            "pump-" + secrets.token_hex(3))
    print(f"{args.file}: keys for device '{device}' (roles: patient, clinician), replay "
          f"counters in {counters_path(args.file)}. Keep it private: it is what the pump is "
          f"provisioned with (pumpctl flash --keys {args.file})")


# ---- the served simulator ----

def _serve_address(text):
    """(host, port) from --serve's HOST:PORT or PORT."""
    host, _, port = text.rpartition(":")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise CommandError(f"--serve {text}: expected HOST:PORT, PORT or pty, with PORT "
                           "0-65535 (0: any free port)")
    return host.strip("[]") or "127.0.0.1", int(port)


def serve(args):
    """pumpctl sim SCENARIO --serve: the simulated pump on a socket or pseudo-terminal. The
    key file is made (if missing) only once the scenario has loaded and the port is bound."""
    from pumpsim.serve import CounterError, CounterFile, Served, bind_tcp
    if args.device is not None:
        check_device(args.device, "--device")
    address = None if args.serve == "pty" else _serve_address(args.serve)
    path = _keys_path(args)
    try:
        sc = load_scenario(args.scenario)
        board, programme = sc.board, sc.programme
        sim = Simulation(board, programme, (), sc.fill_nl)
    except (ScenarioError, ValueError) as e:
        raise CommandError(_about(args.scenario, e)) from None
    text = compact(programme)
    listener = None
    if address is not None:
        try:
            listener = bind_tcp(*address)
        except OSError as e:
            raise CommandError(f"--serve {args.serve}: {e.strerror or e}") from None
    served = None
    try:
        if os.path.exists(path):
            device, keys = load_keys(path)
            made = ""
        else:
            device, keys = new_keys(path, args.device or "sim-" + secrets.token_hex(2))
            made = " (created)"
        counters = CounterFile(counters_path(path))
        try:
            high_water = counters.load()
        except CounterError as e:
            raise CommandError(str(e)) from None
        served = Served(sim, keys, device, counters, high_water, text, args.speed)
        where = served.open_pty() if listener is None else served.listen(listener)
        listener = None                  # the served pump closes it now
        stopping = []                    # SIGTERM handled before anyone can know where we are
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
        print(f"serving pump '{device}' (board {board.name}) on {where} at {args.speed:g}x, "
              f"keys {path}{made}; Ctrl-C stops", flush=True)
        try:
            served.serve(until_s=args.days * 86400 if args.days else None,
                         stop=lambda: bool(stopping))
        except KeyboardInterrupt:
            pass
    finally:
        if listener is not None:
            listener.close()
        if served is not None:
            served.close()
    s = sim.summary()
    print(f"stopped at {clock(sim.pump.now_s)}: delivered {s['delivered_nl'] / 1e6:.3f} mL, "
          f"{s['boluses_given']} boluses, reservoir {s['reservoir_nl_end'] / 1e6:.3f} mL",
          flush=True)


def _about(path, e):
    """'path: message', unless the message names the path already."""
    text = str(e)
    return text if text.startswith(str(path)) else f"{path}: {text}"


# ---- argument parsers ----

def _link_args(p):
    p.add_argument("--port", help="pyserial URL of the pump (default $PUMPCTL_PORT)")
    p.add_argument("--keys", help="key file, for commands that change the pump (default "
                   "$PUMPCTL_KEYS or ./pump-keys.json)")
    p.add_argument("--timeout", type=positive(" of seconds"), default=2.0,
                   help="seconds to wait for a reply")
    return p


def add_parsers(sub):
    p = _link_args(sub.add_parser("status", help="the pump's state now"))
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = _link_args(sub.add_parser("monitor", help="live status and events"))
    p.add_argument("--period", type=whole(1, 0xFFFF, " of seconds"), default=60,
                   help="pump seconds between updates (1-65535)")
    p.add_argument("--count", type=whole(1), help="stop after this many updates")
    p.set_defaults(func=cmd_monitor)

    p = _link_args(sub.add_parser("log", help="the pump's event log"))
    p.add_argument("--from", dest="start", type=whole(0, 0xFFFFFFFF), default=0,
                   help="first event number")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_log)

    p = _link_args(sub.add_parser("bolus", help="request a bolus"))
    p.add_argument("--ug", type=whole(1, 0xFFFF, " of micrograms"),
                   help="clinician bolus of this many micrograms")
    p.add_argument("--minutes", type=whole(1, limits.MAX_BOLUS_S // 60, " of minutes"),
                   help="bolus (or priming) duration")
    p.add_argument("--priming", action="store_true", help="prime tubing and catheter")
    p.add_argument("--bridge", action="store_true", help="bridge bolus after a drug change")
    p.set_defaults(func=cmd_bolus)

    p = _link_args(sub.add_parser("program", help="stage, review and commit a programme"))
    p.add_argument("file", help="programme (TOML or JSON; a scenario's [programme] works)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--yes", action="store_true", help="commit without asking")
    g.add_argument("--dry-run", action="store_true", help="review only; discard the staging")
    p.set_defaults(func=cmd_program)

    p = _link_args(sub.add_parser("refill", help="record a refill"))
    ul = whole(0, MAX_UL, " of microlitres")
    p.add_argument("--added-ul", type=ul, required=True, help="microlitres put in")
    p.add_argument("--aspirated-ul", type=ul, required=True, help="microlitres taken out")
    p.add_argument("--expected-ul", type=ul,
                   help="microlitres expected to be left (default: the pump's estimate)")
    p.set_defaults(func=cmd_refill)

    p = _link_args(sub.add_parser("alarms", help="acknowledge, silence or test alarms"))
    p.add_argument("action", choices=("ack", "silence", "test"))
    p.add_argument("names", nargs="*", metavar="NAME",
                   help="with ack: the alarms to acknowledge (without: list those waiting)")
    p.set_defaults(func=cmd_alarms)

    for name, fn, text in (("stop", cmd_stop, "stop delivery"),
                           ("resume", cmd_resume, "resume delivery"),
                           ("time-sync", cmd_time_sync, "tell the pump the time")):
        _link_args(sub.add_parser(name, help=text)).set_defaults(func=fn)

    p = sub.add_parser("keys", help="make a key file for a new pump")
    p.add_argument("action", choices=("new",))
    p.add_argument("file")
    p.add_argument("--device", help="device name, 1-16 bytes (default: random)")
    p.set_defaults(func=cmd_keys)
