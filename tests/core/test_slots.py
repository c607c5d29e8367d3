# Two-slot, CRC-checked storage for the pump's state (groundwork for issue 5), on both
# interpreters: the newest valid record wins; a write torn at any byte leaves the previous
# record readable; every single-byte corruption of a stored record is detected.
from pumphw.slots import SLOTS, SlotStore, decode, encode


class MemFs:
    def __init__(self):
        self.files = {}

    def read(self, name):
        return self.files.get(name)

    def write(self, name, data):
        self.files[name] = bytes(data)


def test_the_newest_valid_record_wins_and_slots_alternate():
    fs = MemFs()
    s = SlotStore(fs)
    assert s.load() is None                      # nothing stored: the caller must stop
    for i in range(5):
        s.save(b"state %d" % i)
    assert SlotStore(fs).load() == b"state 4"
    assert decode(fs.files[SLOTS[0]])[1] == b"state 4"   # 1, 3, 5th writes to slot a
    assert decode(fs.files[SLOTS[1]])[1] == b"state 3"


def test_a_write_torn_at_any_byte_leaves_the_previous_record():
    fs = MemFs()
    s = SlotStore(fs)
    s.save(b"old state, safe")
    s.save(b"newer state")
    full = encode(3, b"the newest state, being written")
    target = SLOTS[0]                            # seq 3 goes to the older slot (a)
    for cut in range(len(full)):
        fs.files[target] = full[:cut]
        assert SlotStore(fs).load() == b"newer state", cut


def test_every_single_byte_corruption_is_detected():
    good = encode(7, b'{"reservoir_nl": 12345678, "counters": [0, 12, 345]}')
    for i in range(len(good)):
        for x in (0x01, 0x80, 0xFF, 0x5A):
            bad = bytearray(good)
            bad[i] ^= x
            assert decode(bytes(bad)) is None, (i, x)
    fs = MemFs()
    s = SlotStore(fs)
    s.save(b"first")
    s.save(b"second")
    data = bytearray(fs.files[SLOTS[1]])
    data[20] ^= 0x10                             # the newest slot corrupted: the older wins
    fs.files[SLOTS[1]] = bytes(data)
    assert SlotStore(fs).load() == b"first"


def test_the_board_store_keeps_counters_and_refuses_corrupt_ones():
    from pumphw.store import FileStore
    fs = MemFs()
    store = FileStore(fs)
    assert store.load_counters() is None          # a new board
    store.save_counters([0, 3, 17])
    store.save_counters([0, 4, 17])
    assert FileStore(fs).load_counters() == [0, 4, 17]
    for name in SLOTS:
        fs.files[name] = b"garbage"
    try:
        FileStore(fs).load_counters()
        raise AssertionError("corrupt counters accepted")
    except ValueError:
        pass
