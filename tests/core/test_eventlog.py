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
