"""SR-24, SR-25, SR-26: a stateful hypothesis test of restarts. A RuleBasedStateMachine drives the
simulator (the real core with its write-ahead checkpoints on the simulated flash) through
programme changes, patient presses, clinician boluses, time jumps, refills, acknowledgements,
time syncs and faults in any order: power cuts at any instant with the board's clock kept or
lost, power failing inside a checkpoint write (on littlefs-like and FAT-like flash), and a
stored byte flipped before a cut. After every rule pumpsim.invariants has checked, on the truth
only the simulator knows: the pump never counts fewer steps than the motor issued (no double
delivery), no 24 h window holds more than the cap, patient boluses keep their lockout and daily
count, the reservoir estimate is never above the truth, the low alarm is never late, and every
restart raised an alarm.
"""
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from pump.codes import A_MEMORY, A_RESTARTED
from pumpsim.engine import Simulation
from pumpsim.files import load_board

from tests.core.corekit import patient

BOARD = load_board("boards/virtual.toml")
DAY = 86400


def programme(rate, lockout_min=60):
    return {"mode": "continuous", "concentration_ug_per_ml": 2000, "rate_ug_per_day": rate,
            "max_ug_per_24h": 3000, "low_reservoir_ul": 4000,
            "patient_bolus": patient(100, 10, lockout_min, 6, 100)}


class Restarts(RuleBasedStateMachine):
    @initialize(rate=st.integers(200, 2000), fill_ml=st.integers(6, 40),
                torn=st.booleans())
    def start(self, rate, fill_ml, torn):
        self.sim = Simulation(BOARD, programme(rate), (), fill_ml * 1_000_000,
                              atomic_flash=not torn, checked=True)
        self.sim.start()

    @rule(dt=st.one_of(st.integers(0, 120), st.integers(0, 6 * 3600), st.integers(0, 2 * DAY)))
    def wait(self, dt):
        self.sim.advance_to(self.sim.t + dt)

    @rule()
    def press(self):
        self.sim.apply({"action": "press"})

    @rule(amount=st.integers(1, 300), minutes=st.integers(1, 120))
    def clinician_bolus(self, amount, minutes):
        self.sim.apply({"action": "bolus", "amount_ug": amount, "duration_min": minutes})

    @rule(rate=st.integers(200, 2000))
    def reprogramme(self, rate):
        self.sim.pump.program(self.sim.pump.now_s, programme(rate))
        self.sim.commanded()

    @rule(added_ml=st.integers(5, 40))
    def refill(self, added_ml):
        self.sim.apply({"action": "refill", "added_ul": added_ml * 1000})

    @rule()
    def time_sync(self):
        restarts = self.sim.restarts
        base = self.sim.pump.wall_base_s
        self.sim.apply({"action": "time_sync"})
        # known again, given a base from before to go by (and unless the sync's own checkpoint
        # write was cut)
        if self.sim.restarts == restarts and base:
            assert self.sim.pump.time_unknown is None

    @rule()
    def acknowledge_all(self):
        self.sim.apply({"action": "ack"})

    @rule(off=st.integers(1, 3 * 3600), kept=st.booleans())
    def power_cut(self, off, kept):
        self.sim.inject({"kind": "power_cut", "off_s": off, "rtc": "kept" if kept else "lost"})
        assert {A_RESTARTED, A_MEMORY} & set(self.sim.pump.alarms.table)

    @rule(byte=st.integers(0, 5000), off=st.integers(1, 600), when=st.sampled_from(("now",
                                                                                    "next")))
    def power_fails_inside_a_write(self, byte, off, when):
        self.sim.inject({"kind": "cut_in_write", "byte": byte, "off_s": off, "rtc": "lost",
                         "when": when})

    @rule(byte=st.integers(0, 5000), mask=st.integers(1, 255), newest=st.booleans(),
          off=st.integers(1, 600))
    def flipped_byte_then_cut(self, byte, mask, newest, off):
        self.sim.inject({"kind": "flip", "slot": "newest" if newest else "older", "byte": byte,
                         "mask": mask})
        self.sim.inject({"kind": "power_cut", "off_s": off, "rtc": "lost"})

    @invariant()
    def no_invariant_broke(self):
        if hasattr(self, "sim"):
            assert not self.sim.check.violations, self.sim.check.violations


Restarts.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None,
                                      suppress_health_check=[HealthCheck.too_slow])
TestRestarts = Restarts.TestCase
