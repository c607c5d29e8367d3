# SR-20. Board files' hardware part (issue 4): a consistent file is accepted, each kind of
# inconsistency is refused whole, naming the field. Runs under MicroPython too: the board
# checks its own config at boot with this code.
from pumphw.config import parse_hardware


def good(**over):
    d = {"board": {"name": "pico", "port": "rp2", "micropython": "1.23", "mpy": "6.3",
                   "arch": "armv6m"},
         "driver": {"type": "tmc2209", "microsteps": 16},
         "pins": {"step": 2, "dir": 3, "enable": 4, "diag": 5, "buzzer": 15, "button": 14,
                  "battery_adc": 26},
         "battery": {"eri_mv": 3500, "eos_mv": 3300, "divider": [2, 1]},
         "motor": {}}
    for path, value in over.items():
        table, key = path.split("__")
        if value is None:
            del d[table][key]
        else:
            d[table][key] = value
    return d


def field(d):
    hw, err = parse_hardware(d)
    assert (hw is None) == (err is not None)
    return err[0] if err else None


def test_a_consistent_board_is_accepted():
    hw, err = parse_hardware(good())
    assert err is None and hw.port == "rp2" and hw.pins["step"] == 2
    assert hw.microsteps == 16 and hw.mpy == (6, 3) and hw.watchdog_ms == 5000
    assert (hw.divider_num, hw.divider_den) == (2, 1) and hw.stall_steps == 200


def test_inconsistent_boards_are_refused_naming_the_field():
    cases = (
        (good(pins__buzzer=2), "pins.buzzer"),          # GPIO 2 is already the step pin
        (good(pins__step=30), "pins.step"),             # no GPIO 30 on an RP2040
        (good(pins__battery_adc=7), "pins.battery_adc"),  # no ADC on GPIO 7
        (good(pins__enable=None), "pins.enable"),       # a step/dir driver needs enable
        (good(driver__microsteps=3), "driver.microsteps"),
        (good(driver__type="a4988", driver__microsteps=32), "driver.microsteps"),
        (good(driver__type="l298"), "driver.type"),
        (good(board__port="avr"), "board.port"),
        (good(board__micropython="1.19"), "board.micropython"),
        (good(board__mpy="six"), "board.mpy"),
        (good(board__watchdog_ms=9000), "board.watchdog_ms"),
        (good(board__watchdog_ms=1000), "board.watchdog_ms"),   # tasks check in each second
        (good(board__link="uart"), "board.link"),
        (good(battery__eos_mv=3600), "battery.eos_mv"),
        (good(pins__battery_adc=None), "pins.battery_adc"),
        (good(pins__colour=1), "pins.colour"),
        (good(board__name=""), "board.name"),
    )
    for d, where in cases:
        assert field(d) == where, (where, field(d))


def test_esp32_pins_that_cannot_be_used():
    esp = good(board__port="esp32", board__arch="xtensawin", pins__battery_adc=35)
    assert field(esp) is None
    esp["pins"]["step"] = 34                                # input-only
    assert field(esp) == "pins.step"
    esp["pins"]["step"] = 7                                 # flash
    assert field(esp) == "pins.step"


def test_dc_pump_with_encoder_is_refused_until_a_board_layer_drives_it():
    d = good(driver__type="dc_encoder", driver__microsteps=1)
    assert field(d) == "driver.type"


def test_what_no_board_layer_implements_is_refused():
    assert field(good(board__link="uart", pins__uart_tx=0, pins__uart_rx=1)) == "board.link"
