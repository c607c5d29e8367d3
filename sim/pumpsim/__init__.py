"""OpenITB simulated board: virtual clock, motor and reservoir driving the real dosing core.

`engine` and `scenario` run under CPython and the MicroPython unix port; `files` (TOML) is
CPython only.
"""
