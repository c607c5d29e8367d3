# A board file's hardware part: which port family, which MicroPython and .mpy it needs, the
# motor driver, the pins and the battery thresholds. (The dosing calibration, [motor], is
# pump.board's.) Parsed from a plain dict: TOML on the host at flash time, JSON on the board at
# boot, so a board refuses a config the host would have refused. An inconsistent file (a pin
# used twice, a pin the port does not have, a driver without the pins it needs, microsteps the
# driver cannot do) is rejected whole with (field, reason). Allocation only at parse time.
from pump import fields

PORTS = ("rp2", "esp32", "unix")
DRIVERS = ("a4988", "drv8825", "tmc2209", "dc_encoder")
LINKS = ("usb", "uart")
# What the board layers implement today (docs/boards/): the rest is refused, not ignored.
BUILT_DRIVERS = ("a4988", "drv8825", "tmc2209")
BUILT_LINKS = ("usb",)
MICROSTEPS = {"a4988": (1, 2, 4, 8, 16), "drv8825": (1, 2, 4, 8, 16, 32),
              "tmc2209": (1, 2, 4, 8, 16, 32, 64, 128, 256), "dc_encoder": (1,)}
# GPIO numbers each port has, and the ones that can read an analogue voltage.
_GPIO = {"rp2": range(0, 30), "esp32": range(0, 40), "unix": range(0, 64)}
_ADC = {"rp2": range(26, 30), "esp32": range(32, 40), "unix": range(0, 64)}
_ESP32_FLASH = range(6, 12)          # wired to the module's flash: never usable
_ESP32_INPUT_ONLY = range(34, 40)
# Pins by role: which driver needs which, which are outputs.
_OUTPUTS = ("step", "dir", "enable", "motor", "buzzer", "uart_tx")
_PINS = ("step", "dir", "enable", "diag", "motor", "encoder", "buzzer", "button",
         "battery_adc", "uart_tx", "uart_rx")
_NEEDS = {"a4988": ("step", "dir", "enable"), "drv8825": ("step", "dir", "enable"),
          "tmc2209": ("step", "dir", "enable"), "dc_encoder": ("motor", "encoder")}
_TOP = ("board", "driver", "pins", "battery", "motor", "limits")


class Hardware:
    """A validated hardware description. Build it with parse_hardware()."""

    def __init__(self):
        self.name = ""
        self.port = ""
        self.micropython = (1, 23)   # oldest release it runs on
        self.mpy = (6, 3)            # .mpy version.sub mpy-cross must write
        self.arch = ""               # mpy-cross -march for native code ("" none)
        self.link = "usb"
        self.uart = 0
        self.driver = ""
        self.microsteps = 1
        self.pins = {}               # role -> GPIO number
        self.eri_mv = 0              # elective replacement: warn
        self.eos_mv = 0              # end of service: critical
        self.divider_num = 1         # battery mV = ADC mV * num / den
        self.divider_den = 1
        self.stall_steps = 0         # steps issued without movement before the stall alarm
        self.watchdog_ms = 0


def _version(d, key, prefix):
    """"1.23" -> (1, 23)."""
    v = d.get(key)
    parts = v.split(".") if isinstance(v, str) else ()
    if len(parts) != 2 or not (parts[0].isdigit() and parts[1].isdigit()):
        raise fields.Invalid(prefix + key, "must be a version like \"1.23\"")
    return int(parts[0]), int(parts[1])


def _choice(d, key, allowed, prefix, default=None):
    v = d.get(key, default)
    if v not in allowed:
        raise fields.Invalid(prefix + key, "must be one of " + ", ".join(allowed))
    return v


def _parse(d):
    fields.only(d, _TOP)
    hw = Hardware()
    b = fields.table(d, "board")
    fields.only(b, ("name", "description", "port", "micropython", "mpy", "arch", "link",
                    "uart", "watchdog_ms"), "board.")
    name = b.get("name")
    if not isinstance(name, str) or not 0 < len(name) <= 16:
        raise fields.Invalid("board.name", "must be a name of 1-16 characters")
    hw.name = name
    hw.port = _choice(b, "port", PORTS, "board.")
    hw.micropython = _version(b, "micropython", "board.")
    if hw.micropython < (1, 23):
        raise fields.Invalid("board.micropython", "OpenITB needs MicroPython 1.23 or later")
    hw.mpy = _version(b, "mpy", "board.")
    arch = b.get("arch", "")
    if not isinstance(arch, str):
        raise fields.Invalid("board.arch", "must be an mpy-cross -march name")
    hw.arch = arch
    hw.link = _choice(b, "link", LINKS, "board.", "usb")
    if hw.link not in BUILT_LINKS:
        raise fields.Invalid("board.link", hw.link + ": no board layer serves it yet")
    hw.uart = fields.integer(b, "uart", 0, 2, 0, "board.")
    # The RP2040's watchdog cannot wait longer than about 8.3 s; the application's tasks
    # check in about once a second, so a shorter timeout would reset a healthy pump.
    hw.watchdog_ms = fields.integer(b, "watchdog_ms", 2500, 8000, 5000, "board.")

    dr = fields.table(d, "driver")
    fields.only(dr, ("type", "microsteps", "stall_steps"), "driver.")
    hw.driver = _choice(dr, "type", DRIVERS, "driver.")
    if hw.driver not in BUILT_DRIVERS:
        raise fields.Invalid("driver.type", hw.driver + ": no board layer drives it yet")
    hw.microsteps = fields.integer(dr, "microsteps", 1, 256, 1, "driver.")
    if hw.microsteps not in MICROSTEPS[hw.driver]:
        raise fields.Invalid("driver.microsteps", hw.driver + " does not do " +
                             str(hw.microsteps) + " microsteps")
    hw.stall_steps = fields.integer(dr, "stall_steps", 1, 100000, 200, "driver.")

    pins = fields.table(d, "pins")
    fields.only(pins, _PINS, "pins.")
    gpio = _GPIO[hw.port]
    used = {}
    for role in _PINS:
        if role not in pins:
            continue
        where = "pins." + role
        n = fields.integer(pins, role, 0, 255, prefix="pins.")
        if n not in gpio:
            raise fields.Invalid(where, "GPIO " + str(n) + " does not exist on " + hw.port)
        if hw.port == "esp32" and n in _ESP32_FLASH:
            raise fields.Invalid(where, "GPIO " + str(n) + " is wired to the ESP32's flash")
        if hw.port == "esp32" and n in _ESP32_INPUT_ONLY and role in _OUTPUTS:
            raise fields.Invalid(where, "GPIO " + str(n) + " is input-only on the ESP32")
        if role == "battery_adc" and n not in _ADC[hw.port]:
            raise fields.Invalid(where, "GPIO " + str(n) + " has no ADC on " + hw.port)
        if n in used:
            raise fields.Invalid(where, "GPIO " + str(n) + " is already pins." + used[n])
        used[n] = role
        hw.pins[role] = n
    for role in _NEEDS[hw.driver] + ("buzzer", "button"):
        if role not in hw.pins:
            raise fields.Invalid("pins." + role, "required for this board")

    bat = fields.table(d, "battery", required=False)
    if bat is not None:
        fields.only(bat, ("eri_mv", "eos_mv", "divider"), "battery.")
        if "battery_adc" not in hw.pins:
            raise fields.Invalid("pins.battery_adc", "required by [battery]")
        hw.eri_mv = fields.integer(bat, "eri_mv", 1000, 20000, prefix="battery.")
        hw.eos_mv = fields.integer(bat, "eos_mv", 1000, 20000, prefix="battery.")
        if hw.eos_mv >= hw.eri_mv:
            raise fields.Invalid("battery.eos_mv", "must be below battery.eri_mv")
        div = fields.array(bat, "divider", "battery.", 2, 2) if "divider" in bat else (1, 1)
        for v in div:
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise fields.Invalid("battery.divider", "must be [num, den], whole numbers")
        hw.divider_num, hw.divider_den = div
    return hw


def parse_hardware(d):
    """(Hardware, None) or (None, (field, reason)) from a whole board file."""
    if not isinstance(d, dict):
        return None, ("", "board file must be a table")
    try:
        return _parse(d), None
    except fields.Invalid as e:
        return None, (e.field, e.reason)
