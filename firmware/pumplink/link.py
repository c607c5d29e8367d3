# The pump's end of the link: decoded frames in, calls on the dosing core and replies out.
# Every command that changes the pump is checked before it acts: a known role allowed to send
# it, a valid HMAC tag with that role's key, a counter above the last one accepted; the new
# counter is persisted (store.save_counters) before the command runs, so neither a forged nor a
# replayed frame, nor a reboot, makes it act twice. A refused command changes nothing and is
# answered with a nak and its reason. Commands act at the core's current instant: the caller
# advances the core to now before feeding bytes, and reloads the motor from pump.plan after.
# Runs unchanged on the board, in the simulator and under CPython.
import struct

from pump import codes
from pump.forecast import forecast_low_s
from pump.programme import parse_programme
from pumplink import strictjson
from pumpwire import reasons
from pumpwire.auth import AUTH_JUMP, AUTH_NO_KEY, AUTH_OK, AUTH_REPLAY, READ, Verifier
from pumpwire.crc import crc32
from pumpwire.frame import FLAG_PUSH, VERSION, Parser, open_signed, pack
from pumpwire.messages import (BY_ID, CHUNK, LOG_BATCH, PUMP, SCHEMA, ST_DELIVERING, ST_PROGRAMMED,
                               ST_SILENCED, ST_STAGED, ST_STOPPED, ST_TIME_UNKNOWN,
                               TONE_CRITICAL, TONE_OFF,
                               TONE_WARNING)
from pump.alarms import TONE_CRITICAL as _CRIT, TONE_WARNING as _WARN

FIRMWARE = 0x000100          # 0.1.0 as major << 16 | minor << 8 | patch
MAX_TEXT = 8192              # longest programme text the pump stages (a full 7-day flex ~4.6 kB)


class Session:
    """One host connection: its own parser, where its replies go, its telemetry period."""

    def __init__(self, link, write):
        self.link = link
        self.write = write
        self.parser = Parser(self._frame)
        self.period_s = 0
        self.next_push_s = None
        self.seq = 0

    def feed(self, data):
        self.parser.feed(data)

    def send(self, name, seq, *values):
        self.write(pack(name, seq, *values))

    def push(self, name, *values):
        self.seq = (self.seq + 1) & 0xFFFF
        self.write(pack(name, self.seq, *values, flags=FLAG_PUSH))

    def _frame(self, msg_id, flags, seq, payload):
        self.link.handle(self, msg_id, flags, seq, payload)


class Link:
    """keys: {role: key bytes}, provisioned at flash time. store: save_counters(high_water)
    persists the replay counters (raises OSError on failure). programme_text: the JSON text of
    the programme in force, for read-back."""

    def __init__(self, pump, keys, device, store, high_water=None, programme_text=b""):
        self.pump = pump
        self.verifier = Verifier(keys, high_water)
        self.device = device
        self.store = store
        self.current = programme_text
        self.bad_auth = 0
        self.replays = 0
        self.denied = 0
        self.ignored = 0
        self.sessions = []
        self._msg = 0                # id of the command being handled
        self._discard()

    def session(self, write):
        s = Session(self, write)
        self.sessions.append(s)
        return s

    def close(self, session):
        self.sessions.remove(session)

    # ---- telemetry ----

    def poll(self, now_s):
        """Push status on every session whose period has come (pump time now_s)."""
        for s in list(self.sessions):       # a push may close a session
            if s.next_push_s is not None and now_s >= s.next_push_s:
                s.push("status", *self.status())
                s.next_push_s = now_s + s.period_s

    def next_due_s(self):
        """The earliest pending telemetry push, or None."""
        best = None
        for s in self.sessions:
            if s.next_push_s is not None and (best is None or s.next_push_s < best):
                best = s.next_push_s
        return best

    def status(self):
        pump = self.pump
        now = pump.now_s
        prog = pump.prog
        flags = 0
        if pump.delivering():
            flags |= ST_DELIVERING
        if pump.suspended:
            flags |= ST_STOPPED
        if prog is not None:
            flags |= ST_PROGRAMMED
        if self._staged_dict is not None:
            flags |= ST_STAGED
        bits = 0
        unacked = 0
        for code, a in pump.alarms.table.items():
            bits |= 1 << code
            if not a.acked:
                unacked |= 1 << code
                if a.silenced_until > now:
                    flags |= ST_SILENCED
        t = pump.tone()
        tone = TONE_CRITICAL if t is _CRIT else TONE_WARNING if t is _WARN else TONE_OFF
        basal = 0 if prog is None else prog.basal_at(now, pump.anchor_s)[0]
        if pump.time_unknown is not None:
            flags |= ST_TIME_UNKNOWN
            if prog is not None:
                from pump.snapshot import lowest_basal
                basal = lowest_basal(prog)
        plan = pump.plan
        rate = 0
        if plan.steps and (plan.until_s is None or plan.until_s > now):
            rate = plan.rate_num * pump.board.nl_per_step * 3600 // plan.rate_den
        nxt = pump.next_periodic_s()
        forecast = forecast_low_s(pump)
        return (now, pump.wall_base_s, 0 if prog is None else prog.mode, flags, bits, unacked,
                tone,
                basal, rate, pump.reservoir_nl, pump.lockout_remaining_s(),
                -1 if nxt is None else nxt, -1 if forecast is None else forecast,
                pump.steps & 0xFFFFFFFF, pump.log.seq, len(pump.boluses))

    # ---- frames in ----

    def handle(self, s, msg_id, flags, seq, payload):
        m = BY_ID[msg_id]
        senders = m[4]
        if PUMP in senders:
            # A pump's own message coming back (an echoing line, another pump): dropped
            # without a word, or two ends would answer each other's answers for ever.
            self.ignored += 1
            return
        self._msg = msg_id
        if READ not in senders:
            r = self._authenticate(msg_id, flags, seq, payload, senders)
            if r:
                self._nak(s, seq, r)
                return
        body = payload[:m[7]]
        getattr(self, "_" + m[1])(s, seq, *struct.unpack(m[2], body))

    def _authenticate(self, msg_id, flags, seq, payload, senders):
        """0, with the counter recorded and persisted, or the nak reason."""
        signed = open_signed(msg_id, flags, seq, payload, self.device)
        if signed is None:
            self.bad_auth += 1
            return reasons.N_AUTH_REQUIRED
        body, role, counter, got, part = signed
        if role not in senders:
            self.denied += 1
            return reasons.N_ROLE
        r = self.verifier.check(role, counter, part, got)
        if r == AUTH_REPLAY:
            self.replays += 1
            return reasons.N_REPLAY
        if r == AUTH_JUMP:
            self.replays += 1
            return reasons.N_COUNTER
        if r != AUTH_OK:
            self.bad_auth += 1
            return reasons.N_NO_KEY if r == AUTH_NO_KEY else reasons.N_BAD_TAG
        try:
            self.store.save_counters(self.verifier.high_water)
        except OSError:
            return reasons.N_STORAGE
        return 0

    def _ack(self, s, seq, value):
        s.send("ack", seq, self._msg, value)

    def _nak(self, s, seq, reason, detail=0):
        s.send("nak", seq, self._msg, reason, detail)

    def _answer(self, s, seq, r, value):
        """ack with value if the core said OK, else nak with the core's reason."""
        if r == codes.OK:
            self._ack(s, seq, value)
        else:
            self._nak(s, seq, r)

    # ---- read-only requests ----

    def _hello_request(self, s, seq, protocol, schema):
        hw = self.verifier.high_water
        s.send("hello", seq, VERSION, SCHEMA, FIRMWARE, self.pump.board.name.encode(),
               self.device.encode(), hw[1], hw[2], self.pump.now_s, self.pump.wall_base_s)

    def _status_request(self, s, seq):
        s.send("status", seq, *self.status())

    def _telemetry(self, s, seq, period_s):
        s.period_s = period_s
        s.next_push_s = self.pump.now_s + period_s if period_s else None
        self._ack(s, seq, period_s)

    def _log_request(self, s, seq, from_seq, most):
        log = self.pump.log
        records = log.since(from_seq)
        n = min(len(records), most or LOG_BATCH, LOG_BATCH)
        for i in range(n):
            s.send("log_record", seq, *records[i])
        nxt = records[n - 1][0] + 1 if n else max(from_seq, log.oldest())
        s.send("log_end", seq, min(nxt, log.seq), log.oldest(), log.seq)

    def _link_stats_request(self, s, seq):
        p = s.parser
        s.send("link_stats", seq, p.ok, p.bad_crc, p.bad_length, p.bad_version, p.unknown,
               p.overflow, self.bad_auth, self.replays, self.denied, self.ignored)

    def _programme_read(self, s, seq, which, offset):
        text = self.current if which == 0 else self._staged_text if which == 1 else None
        if which == 1 and text is None:
            self._nak(s, seq, reasons.N_NOT_STAGED)
            return
        if text is None or offset > len(text):
            self._nak(s, seq, reasons.N_BAD_VALUE)
            return
        chunk = text[offset:offset + CHUNK]
        s.send("programme_data", seq, which, offset, len(text), crc32(text), len(chunk), chunk)

    # ---- therapy commands (authenticated) ----

    def _patient_bolus(self, s, seq):
        pump = self.pump
        r = pump.request_patient_bolus(pump.now_s)
        self._answer(s, seq, r, pump.prog.patient[0] if r == codes.OK else 0)

    def _bolus(self, s, seq, amount_ug, duration_s):
        self._answer(s, seq, self.pump.request_bolus(self.pump.now_s, amount_ug,
                                                         duration_s), amount_ug)

    def _priming(self, s, seq, duration_s):
        pump = self.pump
        r = pump.request_priming(pump.now_s, duration_s or None)
        self._answer(s, seq, r, pump.boluses[-1].dose_ug if r == codes.OK else 0)

    def _bridge(self, s, seq):
        pump = self.pump
        r = pump.request_bridge(pump.now_s)
        self._answer(s, seq, r, pump.boluses[-1].dose_ug if r == codes.OK else 0)

    def _stop(self, s, seq):
        self.pump.stop(self.pump.now_s)
        self._ack(s, seq, 0)

    def _resume(self, s, seq):
        self.pump.resume(self.pump.now_s)
        self._ack(s, seq, 0)

    def _refill(self, s, seq, expected_nl, aspirated_nl, added_nl):
        r = self.pump.refill(self.pump.now_s, expected_nl, aspirated_nl, added_nl)
        self._answer(s, seq, r, added_nl)

    def _alarm_ack(self, s, seq, code):
        if self.pump.acknowledge(self.pump.now_s, code):
            self._ack(s, seq, code)
        else:
            self._nak(s, seq, reasons.N_NO_ALARM)

    def _alarm_silence(self, s, seq):
        self.pump.silence(self.pump.now_s)
        self._ack(s, seq, 0)

    def _alarm_test(self, s, seq):
        self.pump.alarm_test(self.pump.now_s)
        self._ack(s, seq, 0)

    def _time_sync(self, s, seq, wall_s):
        now = self.pump.now_s
        if wall_s < now:
            self._nak(s, seq, reasons.N_BAD_VALUE)
            return
        from pump.snapshot import time_sync
        old = self.pump.wall_base_s
        base = time_sync(self.pump, now, wall_s)
        self.pump.log.add(now, codes.E_TIME_SYNC, base, base - old)
        self._ack(s, seq, self.pump.wall_base_s)

    # ---- two-phase programming ----

    def _discard(self):
        self._staged = None          # bytearray being filled
        self._staged_n = 0
        self._staged_text = None     # complete text, once checked valid
        self._staged_dict = None
        self._staged_crc = 0

    def _programme_stage(self, s, seq, offset, total, length, data):
        if total > MAX_TEXT:
            self._nak(s, seq, reasons.N_TOO_LARGE, MAX_TEXT)
            return
        if length > CHUNK or length == 0 or offset + length > total:
            self._nak(s, seq, reasons.N_BAD_VALUE)
            return
        if offset == 0:
            self._discard()
            self._staged = bytearray(total)
        elif self._staged is None or offset != self._staged_n or total != len(self._staged):
            self._nak(s, seq, reasons.N_CHUNK, self._staged_n)
            return
        self._staged[offset:offset + length] = data[:length]
        self._staged_n = offset + length
        if self._staged_n < total:
            self._ack(s, seq, self._staged_n)
            return
        text = bytes(self._staged)
        self._staged = None
        err = None
        try:
            d = strictjson.loads(text)
        except strictjson.JSONError as e:
            err = ("", "not valid JSON at byte " + str(e.at) + ": " + e.why)
        window_ug = 0
        if err is None:
            prog, err = parse_programme(d, self.pump.board)
            if err is None:
                err, window_ug = self.pump.review_change(prog)
        crc = crc32(text)
        if err is not None:
            self._discard()
            self._check(s, seq, reasons.N_PROGRAMME, crc, total, err, window_ug)
            return
        self._staged_text = text
        self._staged_dict = d
        self._staged_crc = crc
        self._check(s, seq, 0, crc, total, ("", ""), window_ug)

    def _check(self, s, seq, reason, crc, total, err, window_ug=0):
        s.send("programme_check", seq, reason, crc, total, window_ug, err[0].encode()[:40],
               err[1].encode()[:88])

    def _programme_commit(self, s, seq, crc):
        if self._staged_dict is None:
            self._nak(s, seq, reasons.N_NOT_STAGED)
            return
        if crc != self._staged_crc:
            self._nak(s, seq, reasons.N_CRC)
            return
        pump = self.pump
        err = pump.program(pump.now_s, self._staged_dict)
        if err is not None:
            self._check(s, seq, reasons.N_PROGRAMME, crc, len(self._staged_text), err)
            self._nak(s, seq, reasons.N_PROGRAMME)
            return
        self.current = self._staged_text
        self._discard()
        self._ack(s, seq, crc)

    def _programme_discard(self, s, seq):
        self._discard()
        self._ack(s, seq, 0)
