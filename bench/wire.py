"""Speed of the link codec (pumpwire), measured in one run on this machine.

    python bench/wire.py              # the tables
    python bench/wire.py --json       # the same figures as JSON
    python bench/wire.py --frames 5000 --repeat 7

1. Host, CPython: a stream of frames such as a pump sends while a host downloads its event log
   with telemetry on (log_record frames, a status push every 8th frame, an ack every 50th), fed
   to pumpwire.frame.Parser in 256-byte reads, and the same messages encoded with
   pumpwire.frame.pack, each with three CRC-32s put in place of pumpwire.frame's `crc32` for
   the measurement: binascii (pumpwire.crc.crc32, the default), crcmod (its C extension where
   it was built) and pumpwire.crc.crc32_reference (pure Python, bit by bit). Frames/s are the
   best of --repeat runs; the ratio is to the pure-Python CRC, measured back to back in this
   process, which is what counts on a shared, noisy machine.
2. MicroPython unix port: one status frame encoded (frame.pack), decoded (Parser.feed) and both
   (a round trip), with pumpwire precompiled by mpy-cross as a board gets it (bench/mp_wire.py),
   in a 64 KiB heap and in the port's default heap; and once in 64 KiB with the pure-Python CRC,
   as on a port with neither binascii.crc32 nor crcmod. The round trip is the figure to use:
   encode timed alone in a large heap runs about 3x slower than in 64 KiB, and faster again as
   soon as the loop makes any other allocation (a MicroPython allocator effect on this
   microbenchmark, not a cost a pump sees).
"""
import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _d in ("firmware", "protocol"):
    sys.path.insert(0, os.path.join(ROOT, _d))

from pumpwire import crc, frame  # noqa: E402

READ_SIZE = 256
STATUS = (86400, 1795000000, 2, 5, 2, 2, 1, 2100, 4200, 36413000, 600, 97200, 3801851,
          3337500, 57, 1)


def crc_implementations():
    """[(name, crc32 function with pumpwire.crc.crc32's signature, note)], each checked."""
    impls = [("binascii", crc.crc32, "pumpwire.crc.crc32 (the default)")]
    try:
        import crcmod.predefined
        mod = sys.modules["crcmod.crcmod"]
        impls.append(("crcmod", crcmod.predefined.mkPredefinedCrcFun("crc-32"),
                      "crcmod " + ("C extension" if mod._usingExtension else "pure Python")))
    except ImportError:
        print("wire: crcmod not installed; skipping it", file=sys.stderr)
    impls.append(("reference", crc.crc32_reference, "bit by bit, pure Python"))
    data = bytes(range(256)) * 2
    for name, fn, _ in impls:
        if fn(b"123456789") != crc.CHECK or fn(data[100:], fn(data[:100])) != fn(data):
            raise SystemExit("wire: %s is not CRC-32/ISO-HDLC" % name)
    return impls


@contextlib.contextmanager
def crc_in_frame(fn):
    """pumpwire.frame computes every CRC with fn until the block ends."""
    saved = frame.crc32
    frame.crc32 = fn
    try:
        yield
    finally:
        frame.crc32 = saved


def messages(n):
    """n (name, seq, values, flags) as a pump sends them during a log download."""
    out = []
    for i in range(n):
        if i % 50 == 49:
            out.append(("ack", i, (7, 60), 0))
        elif i % 8 == 0:
            out.append(("status", i // 8, STATUS[:14] + (57 + i, 1), frame.FLAG_PUSH))
        else:
            out.append(("log_record", 1000 + i, (1000 + i, 86400 + 37 * i, 1 + i % 15,
                                                 i % 5, (-1) ** i * 250 * i), 0))
    return out


def encode_all(msgs):
    return [frame.pack(name, seq, *values, flags=flags) for name, seq, values, flags in msgs]


def decode_all(chunks):
    parser = frame.Parser(lambda msg_id, flags, seq, payload: None)
    for c in chunks:
        parser.feed(c)
    return parser


def best(fn, repeat):
    """Shortest time of repeat calls of fn(), in seconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def host(n, repeat):
    msgs = messages(n)
    stream = b"".join(encode_all(msgs))
    chunks = [stream[i:i + READ_SIZE] for i in range(0, len(stream), READ_SIZE)]
    rows = []
    for name, fn, note in crc_implementations():
        with crc_in_frame(fn):
            if b"".join(encode_all(msgs)) != stream:
                raise SystemExit("wire: %s encodes other frames" % name)
            p = decode_all(chunks)
            if p.ok != n or p.bad_crc or p.bad_length or p.unknown or p.overflow:
                raise SystemExit("wire: %s decoded %d of %d frames" % (name, p.ok, n))
            dec_s = best(lambda: decode_all(chunks), repeat)
            enc_s = best(lambda: encode_all(msgs), repeat)
        rows.append({"crc": name, "note": note, "decode_frames_per_s": n / dec_s,
                     "decode_kb_per_s": len(stream) / dec_s / 1000,
                     "encode_frames_per_s": n / enc_s})
    ref = rows[-1]
    for r in rows:
        r["decode_ratio"] = r["decode_frames_per_s"] / ref["decode_frames_per_s"]
        r["encode_ratio"] = r["encode_frames_per_s"] / ref["encode_frames_per_s"]
    return {"frames": n, "bytes": len(stream), "read_size": READ_SIZE, "repeat": repeat,
            "rows": rows}


def micropython(n):
    """One result per (heap, CRC) setting, or None if micropython or mpy-cross is missing."""
    mp, cross = shutil.which("micropython"), shutil.which("mpy-cross")
    if not mp or not cross:
        return None
    out = []
    with tempfile.TemporaryDirectory() as lib:
        os.makedirs(os.path.join(lib, "pumpwire"))
        src = os.path.join(ROOT, "protocol", "pumpwire")
        for name in sorted(os.listdir(src)):
            if name.endswith(".py"):
                subprocess.run([cross, "-O3", "-o",
                                os.path.join(lib, "pumpwire", name[:-3] + ".mpy"),
                                os.path.join(src, name)], check=True)
        subprocess.run([cross, "-O3", "-o", os.path.join(lib, "mp_wire.mpy"),
                        os.path.join(ROOT, "bench", "mp_wire.py")], check=True)
        for heap, crc_name in (("64k", "binascii"), (None, "binascii"), ("64k", "reference")):
            count = n if crc_name == "binascii" else max(1, n // 10)
            cmd = [mp] + (["-X", "heapsize=" + heap] if heap else [])
            cmd += ["-m", "mp_wire", str(count), "."] + (["ref"] if crc_name == "reference"
                                                         else [])
            r = subprocess.run(cmd, cwd=lib, capture_output=True, text=True, timeout=600)
            row = {"heap": heap or "default", "crc": crc_name}
            try:
                row.update({k: int(v) for k, v in (kv.split("=") for kv in r.stdout.split())})
            except ValueError:
                pass
            if r.returncode or not row.get("ok"):
                lines = (r.stdout + r.stderr).strip().splitlines()
                row["error"] = lines[-1] if lines else "exit status %d" % r.returncode
            else:
                for k in ("encode_us", "decode_us", "round_trip_us"):
                    row[k] /= row["frames"]
                row["round_trips_per_s"] = 1e6 / row["round_trip_us"]
            out.append(row)
    version = subprocess.run([mp, "-c", "import sys; print(sys.version)"],
                             capture_output=True, text=True).stdout.strip()
    return {"version": version, "rows": out}


def print_tables(res):
    h = res["host"]
    print("Host (CPython %s, %s): %d frames, %d bytes, fed in %d-byte reads; best of %d"
          % (platform.python_version(), res["machine"], h["frames"], h["bytes"],
             h["read_size"], h["repeat"]))
    print("  %-10s %14s %10s %8s %14s %8s" % ("CRC-32", "decode fr/s", "kB/s", "ratio",
                                           "encode fr/s", "ratio"))
    for r in h["rows"]:
        print("  %-10s %14.0f %10.0f %7.1fx %14.0f %7.1fx  %s"
              % (r["crc"], r["decode_frames_per_s"], r["decode_kb_per_s"], r["decode_ratio"],
                 r["encode_frames_per_s"], r["encode_ratio"], r["note"]))
    m = res["micropython"]
    if m is None:
        print("MicroPython: micropython or mpy-cross not installed")
        return
    size = max(r.get("bytes", 0) for r in m["rows"])
    print("MicroPython unix port (%s), one status frame (%d bytes on the wire), pumpwire as .mpy"
          % (m["version"], size))
    print("  %-8s %-10s %10s %10s %12s %14s %10s" % ("heap", "CRC-32", "encode us",
                                                     "decode us", "round trip us",
                                                     "round trips/s", "heap used"))
    for r in m["rows"]:
        if "error" in r:
            print("  %-8s %-10s failed: %s" % (r["heap"], r["crc"], r["error"]))
            continue
        print("  %-8s %-10s %10.1f %10.1f %12.1f %14.0f %10s"
              % (r["heap"], r["crc"], r["encode_us"], r["decode_us"], r["round_trip_us"],
                 r["round_trips_per_s"], r.get("heap_used", "")))
    print("  (encode alone in a large heap is an allocator effect of the loop: see the module "
          "docstring)")


def cpu():
    """The processor's model name where Linux tells it, else the machine type."""
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip() + ", %d CPUs" % os.cpu_count()
    return platform.machine()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=3000, help="frames in the host stream")
    ap.add_argument("--repeat", type=int, default=5, help="runs per figure; the best counts")
    ap.add_argument("--mp-frames", type=int, default=2000, help="frames per MicroPython figure")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()
    res = {"machine": cpu(),
           "host": host(args.frames, args.repeat), "micropython": micropython(args.mp_frames)}
    if args.json:
        print(json.dumps(res, indent=1))
    else:
        print_tables(res)


if __name__ == "__main__":
    main()
