# The boot watchdog, for ports whose watchdog cannot be stopped once started (RP2040, ESP32):
# boot.py (written by `pumpctl flash`) arms it with a timer feeding it, so REPL work and
# flashing are not cut short by a reset; the application disarms the timer when it takes the
# feeding over, and Ctrl-C arms it again with the motor off. The timer's callback allocates
# nothing.
from machine import WDT, Timer

_TIMEOUT_MS = 8000
_timer = None


def arm(timer_id):
    """timer_id: -1 (a virtual timer) on the RP2040, a hardware timer (0) on the ESP32."""
    global _timer
    wdt = WDT(timeout=_TIMEOUT_MS)
    if _timer is None:
        _timer = Timer(timer_id, period=1000, callback=lambda t: wdt.feed())


def disarm():
    global _timer
    if _timer is not None:
        _timer.deinit()
        _timer = None
