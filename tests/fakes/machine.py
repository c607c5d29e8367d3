"""A CPython stand-in for the few `machine` classes pumphw.rp2 uses."""


WDT_RESET = 3


def reset_cause():
    return 1


class Pin:
    OUT = 1
    IN = 0
    PULL_UP = 2

    def __init__(self, *a, **k):
        self.v = k.get("value", 0)

    def value(self, v=None):
        if v is None:
            return self.v
        self.v = v


class ADC:
    def __init__(self, *a, **k):
        pass


class PWM:
    def __init__(self, *a, **k):
        pass

    def duty_u16(self, v):
        pass


class WDT:
    def __init__(self, *a, **k):
        pass

    def feed(self):
        pass


class Timer:
    def __init__(self, *a, **k):
        pass

    def deinit(self):
        pass

