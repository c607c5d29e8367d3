# OpenITB dosing core: pure integer state machines, no hardware, no clock, no files.
# Runs unchanged on MicroPython boards, the MicroPython unix port and CPython.
VERSION = "0.1.0"
