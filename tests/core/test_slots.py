# Two-slot, CRC-checked storage (pumphw.slots, pumphw.store), on both interpreters: the newest
# valid record wins; a write torn at any byte leaves the previous record readable and is
# flagged as doubt (it might have been newer); every single-byte corruption is detected.
from pumphw.slots import SlotStore, decode, encode, header_seq
from pumphw.store import COUNTERS, FRESH, STATE, FileStore

NAMES = ("s.a", "s.b")


class MemFs:
    def __init__(self):
        self.files = {}

    def read(self, name):
        return self.files.get(name)

    def write(self, name, data):
        self.files[name] = bytes(data)

    def remove(self, name):
        self.files.pop(name, None)


def test_the_newest_valid_record_wins_and_slots_alternate():
    fs = MemFs()
    s = SlotStore(fs, NAMES)
    assert s.load() is None and not s.found      # nothing stored
    for i in range(5):
        s.save(b"state %d" % i)
    again = SlotStore(fs, NAMES)
    assert again.load() == b"state 4" and not again.doubt
    assert decode(fs.files[NAMES[0]])[1] == b"state 4"   # 1, 3, 5th writes to slot a
    assert decode(fs.files[NAMES[1]])[1] == b"state 3"


def test_a_write_torn_at_any_byte_leaves_the_previous_record_in_doubt():
    """SR-25: a torn write never yields a mixture; it may have been the newer record, so the
    reader is told to doubt (pump.checkpoint then assumes the worst)."""
    fs = MemFs()
    s = SlotStore(fs, NAMES)
    s.save(b"old state, safe")
    s.save(b"newer state")
    full = encode(3, b"the newest state, being written")
    for cut in range(1, len(full)):
        fs.files[NAMES[0]] = full[:cut]          # seq 3 goes to the older slot (a)
        r = SlotStore(fs, NAMES)
        assert r.load() == b"newer state", cut
        assert r.doubt, cut


def test_a_corrupt_older_slot_is_no_doubt_and_is_overwritten_next():
    fs = MemFs()
    s = SlotStore(fs, NAMES)
    s.save(b"first")
    s.save(b"second")
    data = bytearray(fs.files[NAMES[0]])
    data[-2] ^= 0x40                             # the older record's payload: header intact
    fs.files[NAMES[0]] = bytes(data)
    r = SlotStore(fs, NAMES)
    assert r.load() == b"second" and not r.doubt
    r.save(b"third")
    assert SlotStore(fs, NAMES).load() == b"third"


def test_every_single_byte_corruption_is_detected():
    """SR-25: every single-byte corruption of a stored record is detected."""
    good = encode(7, b'{"reservoir": 12345678, "steps": [0, 12, 345]}')
    for i in range(len(good)):
        for x in (0x01, 0x80, 0xFF, 0x5A):
            bad = bytearray(good)
            bad[i] ^= x
            assert decode(bytes(bad)) is None, (i, x)
    fs = MemFs()
    s = SlotStore(fs, NAMES)
    s.save(b"first")
    s.save(b"second")
    data = bytearray(fs.files[NAMES[1]])
    data[20] ^= 0x10                             # the newest slot corrupted: the older, doubted
    fs.files[NAMES[1]] = bytes(data)
    r = SlotStore(fs, NAMES)
    assert r.load() == b"first" and r.doubt


def test_after_losing_everything_new_records_number_above_the_wreck():
    fs = MemFs()
    fs.files[NAMES[1]] = encode(41, b"x" * 30)[:25]   # a torn slot whose header reads 41
    s = SlotStore(fs, NAMES)
    assert s.load() is None and s.found
    s.save(b"fresh start")
    assert header_seq(fs.files[NAMES[0]]) == 42
    r = SlotStore(fs, NAMES)
    assert r.load() == b"fresh start"


def test_the_board_store_keeps_counters_and_refuses_corrupt_ones():
    fs = MemFs()
    store = FileStore(fs)
    assert store.load_counters() is None          # a new board
    store.save_counters([0, 3, 17])
    store.save_counters([0, 4, 17])
    assert FileStore(fs).load_counters() == [0, 4, 17]
    for name in COUNTERS:
        fs.files[name] = b"garbage"
    try:
        FileStore(fs).load_counters()
        raise AssertionError("corrupt counters accepted")
    except ValueError:
        pass


def test_the_fresh_marker_goes_with_the_first_state_written():
    fs = MemFs()
    fs.files[FRESH] = b""
    store = FileStore(fs)
    assert store.load_state() is None and store.fresh()
    store.save_state(b"{}")
    assert not store.fresh() and STATE[0] in fs.files


def test_counters_of_the_first_firmware_are_never_silently_reset():
    """SR-17: the first firmware kept its replay counters in state.a/b (slot format 1); a board
    upgraded from it refuses to start rather than accept replayed frames."""
    fs = MemFs()
    fs.files[STATE[0]] = b"OITB\x01" + bytes(20)
    try:
        FileStore(fs).load_counters()
        raise AssertionError("old counters ignored")
    except ValueError as e:
        assert "older firmware" in str(e)
