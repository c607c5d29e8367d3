"""pumplink: the pump end of the link (command handler, telemetry). Board, simulator and CPython."""
