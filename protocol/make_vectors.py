"""Writes protocol/vectors.json: frames for every message, from the message table, that both
ends' tests must reproduce byte for byte. Rerun after changing the table:
    python protocol/make_vectors.py
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from pumpwire.frame import pack  # noqa: E402
from pumpwire.messages import MESSAGES, SCHEMA  # noqa: E402

SAMPLES = {
    "hello": [1, SCHEMA, 0x000100, b"virtual"],
    "ack": [513, 0],
    "nak": [7, 3],
    "status": [86400, 2, 1, 0b11, 36413000, 600, 3801851, 3337500],
    "log_record": [12, 3600, 3, 3, 250],
    "patient_bolus": [],
}


def main():
    vectors = []
    for seq, (mid, name, fmt, fields, senders) in enumerate(MESSAGES):
        values = SAMPLES[name]
        frame = pack(name, seq * 257, *values)
        vectors.append({"name": name, "seq": seq * 257,
                        "values": [v.hex() if isinstance(v, bytes) else v for v in values],
                        "bytes_fields": [i for i, v in enumerate(values)
                                         if isinstance(v, bytes)],
                        "frame": frame.hex()})
    with open(os.path.join(HERE, "vectors.json"), "w") as f:
        json.dump({"schema": SCHEMA, "crc32_check": 0xCBF43926, "frames": vectors}, f,
                  indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
