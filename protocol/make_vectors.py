"""Writes protocol/vectors.json: frames for every message, from the message table, that both
ends' tests must reproduce byte for byte. Rerun after changing the table:
    python protocol/make_vectors.py
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from pumpwire.frame import pack, pack_signed  # noqa: E402
from pumpwire.messages import MESSAGES, SCHEMA  # noqa: E402

SAMPLES = {
    "hello_request": [1, SCHEMA],
    "hello": [1, SCHEMA, 0x000100, b"virtual", b"sim-0001", 12, 345, 86400, 1795000000],
    "ack": [21, 100],
    "nak": [20, 3, 0],
    "status_request": [],
    "status": [86400, 1795000000, 2, 5, 2, 2, 1, 2100, 4200, 36413000, 600, 97200, 3801851,
               3337500, 57, 1],
    "telemetry": [60],
    "log_request": [12, 32],
    "log_record": [12, 3600, 3, 3, 250],
    "log_end": [13, 0, 57],
    "link_stats_request": [],
    "link_stats": [100, 1, 2, 0, 3, 0, 4, 5, 6, 7],
    "patient_bolus": [],
    "bolus": [250, 600],
    "priming": [0],
    "bridge": [],
    "stop": [],
    "resume": [],
    "refill": [5000000, 4800000, 40000000],
    "alarm_ack": [1],
    "alarm_silence": [],
    "alarm_test": [],
    "time_sync": [1795000000],
    "programme_stage": [0, 5, 5, b"{\"a\":"],
    "programme_check": [0, 0xCBF43926, 300, 4300, b"", b""],
    "programme_read": [1, 128],
    "programme_data": [1, 128, 300, 0xCBF43926, 3, b"abc"],
    "programme_commit": [0xCBF43926],
    "programme_discard": [],
}

DEVICE = "vector-pump"
# Signed commands: (message, role, counter, values); keys are KEY_BYTE repeated 32 times.
SIGNED = [("patient_bolus", 1, 7, []), ("bolus", 2, 70000, [250, 600]),
          ("programme_commit", 2, 2 ** 32 - 1, [0xCBF43926])]


def _hex(values):
    return [v.hex() if isinstance(v, bytes) else v for v in values]


def _bytes_fields(values):
    return [i for i, v in enumerate(values) if isinstance(v, bytes)]


def main():
    vectors = []
    for seq, m in enumerate(MESSAGES):
        name = m[1]
        values = SAMPLES[name]
        vectors.append({"name": name, "seq": seq * 257, "values": _hex(values),
                        "bytes_fields": _bytes_fields(values),
                        "frame": pack(name, seq * 257, *values).hex()})
    signed = []
    for i, (name, role, counter, values) in enumerate(SIGNED):
        key = bytes((0x40 + role,)) * 32
        signed.append({"name": name, "seq": 1000 + i, "role": role, "counter": counter,
                       "key": key.hex(), "values": values,
                       "frame": pack_signed(name, 1000 + i, key, role, counter, *values,
                                            device=DEVICE).hex()})
    with open(os.path.join(HERE, "vectors.json"), "w") as f:
        json.dump({"schema": SCHEMA, "crc32_check": 0xCBF43926, "frames": vectors,
                   "device": DEVICE, "signed": signed}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
