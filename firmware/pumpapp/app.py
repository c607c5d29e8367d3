# The pump application: the dosing core, the link and the board layer wired together as
# asyncio tasks. Control: advance the core by the steps the generator reports, hand it the
# next plan, sleep until something is due. Link: bytes in, replies out, telemetry pushed.
# Annunciation: the core's tone pattern on the buzzer. Inputs: the patient button (a long
# press asks for a bolus), the battery, the stall evidence. Supervisor: feeds the watchdog
# only while every task has checked in. At boot the pump comes back from its last checkpoint
# (pump.checkpoint.recover), and before any plan reaches the motor a checkpoint covers it. The
# pump clock is read through a guard against ticks that jump, go back or stall, and the link
# through a byte budget against floods; each fault raises its warning. The same code runs on a
# board and on the virtual board; the HAL (pumphw.rp2 / esp32 / unix) is its only contact with
# hardware.
import asyncio
import os

from pump import codes
from pump.checkpoint import Checkpointer, recover
from pumphw import ticks
from pumphw.battery import EOS, ERI, Battery
from pumphw.button import LONG_PRESS, Button
from pumphw.clockguard import ClockGuard
from pumphw.flood import FloodGuard
from pumphw.stall import StallDetector
from pumphw.tones import TonePlayer
from pumplink.link import Link

_CONTROL = 1                   # task check-in bits for the watchdog supervisor
_LINK = 2
_ANNUNCIATE = 4
_INPUTS = 8
_BACKGROUND = 16               # the board layer's own tasks (the PIO feeder)
_INPUT_MS = 20                 # button poll
_BATTERY_EVERY = 500           # battery read every this many input polls (10 s)
FAULT_FILE = "fault.json"
LOG_SIZE = 128
LINK_BYTES_PER_S = 4096        # far above what a host sends (a programme is about 11 kB)


class App:
    def __init__(self, hal, board, hw, keys, device):
        self.hal = hal
        self.pump, saved, self.came_back = recover(hal.store, board, hal.rtc_s(), LOG_SIZE)
        saved = saved or {}
        self.link = Link(self.pump, keys, device, hal.store, hal.store.load_counters(),
                         saved.get("text", "").encode())
        self.ckpt = Checkpointer(hal.store)
        self._speed = getattr(hal, "speed", 1)    # the virtual board's clock runs faster
        self.clock = ClockGuard(max_step_ms=(hw.watchdog_ms + 1000) * self._speed)
        self.flood = FloodGuard(LINK_BYTES_PER_S, 4 * LINK_BYTES_PER_S)
        self._t_ms = hal.ticks_ms()
        self._ms = self.pump.now_s * 1000     # pump-clock milliseconds
        self._link_ms = 0             # tick milliseconds, never held (the flood budget's)
        self._held = None             # link answers waiting for the checkpoint
        self._alive = 0               # bit per task that checked in since the last feed
        self._expect = _CONTROL | _LINK | _ANNUNCIATE | _INPUTS
        self._link_waiting = False    # the link task is idle, awaiting bytes: alive
        self._fault = False           # the last-resort handler ran: stop feeding the watchdog
        self.button = Button(hold_ms=1500)
        self.battery = Battery(hw.eri_mv, hw.eos_mv, hw.divider_num, hw.divider_den) \
            if hw.eri_mv else None
        self.stall = StallDetector(hw.stall_steps)
        self.tones = TonePlayer()

    # ---- the control step (also called before every command) ----

    def now_s(self):
        """The pump clock in whole seconds, from wrapping ticks, through the clock guard."""
        t = self.hal.ticks_ms()
        diff = ticks.diff(t, self._t_ms)
        self._t_ms = t
        self._ms += self.clock.advance(diff)
        if diff > 0:
            self._link_ms += diff
        return self._ms // 1000

    def step(self):
        """Bring the core to now with the steps the generator issued; start the next plan."""
        now = self.now_s()
        pump = self.pump
        if now > pump.now_s:
            issued, moved = self.hal.motor.take(now)
            pump.advance(now, issued)
            if self.stall.update(issued, moved):
                # latched until acknowledged; then delivery retries (see pumphw.stall)
                pump.condition(now, codes.A_MOTOR_STALL, True)
                pump.condition(now, codes.A_MOTOR_STALL, False)
            self.commanded()
        self._warn(codes.A_CLOCK, self.clock.fault != 0)
        self.clock.clear()
        self._warn(codes.A_LINK_FLOOD, self.flood.poll(self._link_ms // self._speed))
        self.link.poll(pump.now_s)

    def _warn(self, code, active):
        """A board-detected condition: raised while active, then latched until acknowledged."""
        pump = self.pump
        a = pump.alarms.table.get(code)
        if active != (a is not None and a.condition):
            pump.condition(pump.now_s, code, active)
            self.commanded()

    def commanded(self):
        """Hand the generator the core's plan (a command may have changed it), with how far
        the board already is into the plan's first second. False if the checkpoint covering
        it could not be written (the plan is then cut to what the stored one covers)."""
        if self._fault:
            self.hal.motor.stop()           # the core may be what failed: trust no plan
            return False
        ok = self.ckpt.guard(self.pump, self._link_state, self.hal.rtc_s())
        plan = self.pump.plan
        self.hal.motor.load(plan, self._ms - plan.t0_s * 1000)
        return ok

    def _link_state(self):
        """What the checkpoint keeps of the link: the programme text (read back by hosts)."""
        return {"text": self.link.current.decode()}

    def _due_ms(self):
        """Pump milliseconds until the next whole second: the core counts whole seconds, so
        the generator is handed each second's plan at that second (pumphw.steps schedules no
        further), and anything due falls on a second too."""
        return 1000 - self._ms % 1000 + 1

    # ---- tasks ----

    def checkin(self, bit):
        self._alive |= bit

    async def control(self):
        while True:
            self.step()
            self._alive |= _CONTROL
            await self.hal.sleep_ms(self._due_ms())

    async def serve_link(self):
        while True:
            self._alive |= _LINK
            self._link_waiting = True
            data = await self.hal.link_read()
            self._link_waiting = False
            if data:
                self.received(data)

    def received(self, data):
        """Bytes from the link, within the flood budget (the rest are dropped and counted).
        The answers wait until the checkpoint is written: a host told "done" is never told of
        a change a power cut could still undo."""
        self.step()
        n = self.flood.admit(len(data), self._link_ms // self._speed)
        if n:
            self._held = []
            ok = False
            try:
                self.session.feed(data if n == len(data) else data[:n])
                ok = self.commanded()
            finally:
                # unsaved (or failed half way): no answer at all, as after a power cut; the
                # host reports that the command may not have acted
                held, self._held = self._held, None
                if ok:
                    for frame in held:
                        self.hal.link_write(frame)

    def _write(self, data):
        """The session's output: held while a command is being made safe (received())."""
        if self._held is not None:
            self._held.append(bytes(data))
        else:
            self.hal.link_write(data)

    async def annunciate(self):
        while True:
            self._alive |= _ANNUNCIATE
            left = self.tones.update(self.pump.tone(), self.hal.ticks_ms())
            self.hal.buzzer(self.tones.hz)
            await self.hal.sleep_ms(min(left or 250, 250))

    async def inputs(self):
        n = 0
        while True:
            self._alive |= _INPUTS
            if self.button.update(self.hal.button(), self.hal.ticks_ms()) == LONG_PRESS:
                self.step()
                self.pump.request_patient_bolus(self.pump.now_s)
                self.commanded()
            n += 1
            if self.battery is not None and n % _BATTERY_EVERY == 1:
                self._battery(self.battery.update(self.hal.battery_u16()))
            await self.hal.sleep_ms(_INPUT_MS)

    def _battery(self, state):
        self.step()
        self._warn(codes.A_BATTERY_ERI, state == ERI)
        self._warn(codes.A_BATTERY_EOS, state == EOS)

    async def supervise(self):
        """Feed the watchdog only when every task has run since the last feed (the link task
        also counts while it waits for bytes): a hung or dead task lets the watchdog reset
        the board. The period is in real milliseconds."""
        while True:
            await asyncio.sleep_ms(self.hal.watchdog_ms // 4)
            if self._link_waiting:
                self._alive |= _LINK
            if self._alive & self._expect == self._expect and not self._fault:
                self._alive = 0
                self.hal.feed_watchdog()

    async def main(self):
        self.session = self.link.session(self._write)
        asyncio.get_event_loop().set_exception_handler(
            lambda loop, context: self.last_resort(context["exception"]))
        background = self.hal.background(self.checkin)
        if background:
            self._expect |= _BACKGROUND
        for task in (self.control(), self.serve_link(), self.annunciate(),
                     self.inputs()) + background:
            asyncio.create_task(task)
        self._boot_fault()
        await self.supervise()

    def _boot_fault(self):
        """A fault recorded before the last reset, or a reset by the watchdog (a hung task
        writes no file), is announced now, latched until acknowledged: the reset must not
        hide it."""
        try:
            with open(FAULT_FILE) as f:
                f.read()
        except OSError:
            if not self.hal.reset_was_watchdog():
                return
        now = self.pump.now_s
        self.pump.condition(now, codes.A_SYSTEM_FAULT, True)
        self.pump.condition(now, codes.A_SYSTEM_FAULT, False)
        self.pump.log.add(now, codes.E_FAULT, 0, 0)
        try:
            os.remove(FAULT_FILE)
        except OSError:
            pass

    def last_resort(self, exc):
        """Anything unexpected, in any task: motor off first, a latched critical alarm, the
        fault written down (so the alarm survives the watchdog reset that follows: the
        supervisor stops feeding), and why on the console. Each step on its own, so one
        failing does not skip the others."""
        self._fault = True
        try:
            self.hal.motor.stop()
        except Exception:  # the last resort must go on
            pass
        try:
            self.pump.condition(self.pump.now_s, codes.A_SYSTEM_FAULT, True)
        except Exception:  # the last resort must go on
            pass
        try:
            with open(FAULT_FILE + ".tmp", "w") as f:
                f.write(type(exc).__name__ + ": " + str(exc))
            os.rename(FAULT_FILE + ".tmp", FAULT_FILE)
        except Exception:  # the last resort must go on
            pass
        self.hal.fatal(exc)
