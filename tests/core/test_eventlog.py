# The bounded event log and resumable reading.
from pump.eventlog import EventLog


def test_ring_keeps_last_records_and_counts_all():
    log = EventLog(4)
    for i in range(10):
        log.add(i, 1, i, 0)
    assert log.seq == 10
    assert [e[0] for e in log.since(0)] == [6, 7, 8, 9]
    assert [e[0] for e in log.since(8)] == [8, 9]
    assert log.since(10) == []


def test_record_shape():
    log = EventLog(2)
    log.add(5, 3, 7, -1)
    assert log.since(0) == [(0, 5, 3, 7, -1)]


def test_ledger_reads_the_line_between_points():
    """SR-4: the past part of a window, from the dose ledger."""
    from pump.ledger import DoseLedger
    led = DoseLedger(0, 8)
    led.add(1000)
    led.mark(100)        # 1000 pg over [0, 100)
    led.add(500)
    assert led.since(0, 200) == 1500
    assert led.since(50, 200) == 1000      # half the first segment + all the second
    assert led.since(150, 200) == 250       # half of the open segment [100, 200)
    assert led.since(-10, 200) == 1500


def test_ledger_is_bounded_and_merges_safely():
    """SR-4: a full ledger merges its two oldest points without ever under-counting."""
    from pump.ledger import DoseLedger
    led = DoseLedger(0, 4)
    exact = [(0, 0)]  # (time, cumulative) as delivered, linear in between
    for t in range(1, 10):
        led.add(t * 100)  # the rate grows: the convex case a plain line would under-count
        led.mark(t * 10)
        exact.append((t * 10, led.total_pg))
    assert led.count == 4
    for s in range(0, 90):
        i = s // 10
        (t0, c0), (t1, c1) = exact[i], exact[i + 1]
        truth = led.total_pg - (c0 + (c1 - c0) * (s - t0) // (t1 - t0))
        assert led.since(s, 90) >= truth, s
    led.mark(90 + 86400)
    assert led.count == 2  # a day later only the newest point and its predecessor remain
