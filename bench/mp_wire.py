# The link codec's cost for one status frame on MicroPython: encode (frame.pack), decode
# (Parser.feed up to the frame callback) and both, timed over N frames with ticks_us. Runs under
# MicroPython and CPython; bench/wire.py runs it and prints the figures. Each figure is
# the best of three passes.
#
# Usage: micropython bench/mp_wire.py N [LIBDIR] [ref]
# LIBDIR holds pumpwire/ precompiled to .mpy, as a board gets it (bench/wire.py builds it and
# runs this script precompiled too: cd LIBDIR && micropython -X heapsize=64k -m mp_wire N .);
# without it the sources in protocol/ and firmware/ are imported. "ref" swaps in the bit-by-bit
# crc32_reference for the frame module's CRC, as on a port with neither binascii.crc32 nor
# crcmod. Prints one line of key=value pairs; times in microseconds.
import gc
import sys
import time

_here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
_args = [a for a in sys.argv[1:] if a != "ref"]
if len(_args) > 1:
    sys.path.insert(0, _args[1])
else:
    sys.path.insert(0, _here + "/../firmware")
    sys.path.insert(0, _here + "/../protocol")

from pumpwire import frame  # noqa: E402
from pumpwire.crc import crc32_reference  # noqa: E402

# A status push as a pump sends it mid-therapy (the values of protocol/make_vectors.py).
STATUS = (86400, 1795000000, 2, 5, 2, 2, 1, 2100, 4200, 36413000, 600, 97200, 3801851,
          3337500, 57, 1)


def us():
    if hasattr(time, "ticks_us"):
        return time.ticks_us()
    return int(time.perf_counter() * 1000000)


def since(t0):
    if hasattr(time, "ticks_diff"):
        return time.ticks_diff(time.ticks_us(), t0)
    return us() - t0


def main():
    n = int(_args[0]) if _args else 2000
    if "ref" in sys.argv[1:]:
        frame.crc32 = crc32_reference
    got = [0]

    def on_frame(msg_id, flags, seq, payload):
        got[0] += 1

    parser = frame.Parser(on_frame)
    pack = frame.pack
    one = pack("status", 1, *STATUS, flags=frame.FLAG_PUSH)
    push = frame.FLAG_PUSH
    enc = dec = trip = None
    for _ in range(3):      # best of three: the first pass also faults in a large heap's pages
        gc.collect()
        t0 = us()
        for i in range(n):
            pack("status", i, *STATUS, flags=push)
        t = since(t0)
        enc = t if enc is None else min(enc, t)

        t0 = us()
        for i in range(n):
            parser.feed(one)
        t = since(t0)
        dec = t if dec is None else min(dec, t)

        t0 = us()
        for i in range(n):
            parser.feed(pack("status", i, *STATUS, flags=push))
        t = since(t0)
        trip = t if trip is None else min(trip, t)

    heap = ""
    if hasattr(gc, "mem_free"):
        gc.collect()
        heap = " heap_free=%d heap_used=%d" % (gc.mem_free(), gc.mem_alloc())
    ok = 1 if got[0] == 6 * n and parser.ok == got[0] else 0
    print("frames=%d bytes=%d ok=%d encode_us=%d decode_us=%d round_trip_us=%d%s"
          % (n, len(one), ok, enc, dec, trip, heap))


main()
