# Battery state from the ADC, like an implanted pump's elective replacement indicator: OK, ERI
# (warn: plan the replacement) and EOS (end of service: stop, a critical alarm). Readings are
# smoothed (integer moving average) and each threshold has hysteresis, so noise near a
# threshold does not make the alarm flicker. Integer mV; no allocation.
OK = 0
ERI = 1
EOS = 2
HYSTERESIS_MV = 50


class Battery:
    def __init__(self, eri_mv, eos_mv, divider_num=1, divider_den=1, vref_mv=3300):
        self.eri_mv = eri_mv
        self.eos_mv = eos_mv
        self._num = divider_num * vref_mv
        self._den = divider_den * 65535
        self.mv = None
        self.state = OK

    def update(self, raw_u16):
        """A read_u16() sample; returns the state (OK, ERI or EOS)."""
        mv = raw_u16 * self._num // self._den
        self.mv = mv if self.mv is None else (self.mv * 7 + mv) // 8
        mv = self.mv
        s = self.state
        if mv <= self.eos_mv:
            s = EOS
        elif mv <= self.eri_mv:
            if not (s == EOS and mv <= self.eos_mv + HYSTERESIS_MV):
                s = ERI
        elif s != OK and mv <= self.eri_mv + HYSTERESIS_MV:
            s = ERI
        else:
            s = OK
        self.state = s
        return s
