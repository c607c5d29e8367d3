# Battery state from the ADC, like an implanted pump's elective replacement indicator: OK, ERI
# (warn: plan the replacement) and EOS (end of service: stop, a critical alarm). Readings are
# smoothed (integer moving average, started from the median of the first readings) and each
# threshold has hysteresis, so noise near a threshold does not make the alarm flicker and one
# bad reading at power-up raises nothing. Integer mV; no allocation after the warm-up.
OK = 0
ERI = 1
EOS = 2
HYSTERESIS_MV = 50
_WARM_UP = 8                 # samples averaged before any verdict: one bad first read
                             # must not latch a critical alarm


class Battery:
    def __init__(self, eri_mv, eos_mv, divider_num=1, divider_den=1, vref_mv=3300):
        self.eri_mv = eri_mv
        self.eos_mv = eos_mv
        self._num = divider_num * vref_mv
        self._den = divider_den * 65535
        self.mv = None
        self._first = []             # the warm-up samples; their median starts the average
        self.state = OK

    def update(self, raw_u16):
        """A read_u16() sample; returns the state (OK, ERI or EOS)."""
        mv = raw_u16 * self._num // self._den
        if self.mv is None:
            self._first.append(mv)
            if len(self._first) < _WARM_UP:
                return self.state
            self._first.sort()
            self.mv = self._first[_WARM_UP // 2]
            self._first = None
        else:
            self.mv = (self.mv * 7 + mv) // 8
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
