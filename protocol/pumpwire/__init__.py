"""pumpwire: the OpenITB link codec (frames, CRC, message table). Runs unchanged on
MicroPython and CPython."""
