# The refill forecast: when the reservoir will reach its low threshold if the patient takes
# every bolus the limits allow. Asked for on demand (status, summaries), so it lives apart from
# the controller and a small board loads it only when asked. Pure integer arithmetic.
from pump.exact import ceil_div
from pump.limits import DAY_S


def forecast_low_s(pump, horizon_days=400):
    """When pump's reservoir reaches the low threshold if every allowed patient bolus is
    taken, each as early in the day as it could be; None if delivery is stopped or it is not
    within horizon_days."""
    p = pump.prog
    if p is None or not pump.delivering():
        return None
    left_ug_x = (pump.reservoir_nl - p.low_nl) * p.conc_ug_per_ml  # ug * 1e6
    if left_ug_x <= 0:
        return pump.now_s
    patient_ug = 0
    if p.patient is not None:
        amount, dur, lockout, count, per_hour = p.patient
        n = min(count, ceil_div(DAY_S, lockout), (per_hour // amount) * 24,
                (p.cap_ug_24h - p.sched_max_ug_24h) // amount)
        patient_ug = max(0, n) * amount
    patient_x = patient_ug * 1000000
    day = (pump.now_s - pump.anchor_s) // DAY_S
    t = pump.now_s
    for _ in range(horizon_days):
        day_end = pump.anchor_s + (day + 1) * DAY_S
        sched_x = p.day_dose_ug(day) * 1000000 * (day_end - t) // DAY_S
        if patient_x >= left_ug_x:
            return t
        if patient_x + sched_x >= left_ug_x:
            return t + (left_ug_x - patient_x) * (day_end - t) // sched_x
        left_ug_x -= patient_x + sched_x
        day += 1
        t = day_end
    return None
