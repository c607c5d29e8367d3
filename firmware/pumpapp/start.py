# Starting the pump firmware: run by a board's main.py (`from pumpapp.start import main`).
# It reads the board's configuration (board.json: the board file, keys.json: the provisioned
# keys, both written by `pumpctl flash`), checks it with the same code the host used, picks the
# board layer for the port, and runs the application. Ctrl-C (a host's mpremote) stops the
# motor and drops to the REPL; anything unexpected goes to the application's last-resort
# handler.
import asyncio
import json
from binascii import unhexlify

from pump.board import parse_board
from pumpapp.app import App
from pumphw.config import parse_hardware
from pumpwire.auth import CLINICIAN, PATIENT


def _config():
    with open("board.json") as f:
        data = json.load(f)
    hw, err = parse_hardware(data)
    if err is None:
        board, err = parse_board(data.get("motor", {}), data.get("limits"))
    if err is not None:
        raise ValueError("board.json: " + err[0] + ": " + err[1])
    board.name = hw.name
    with open("keys.json") as f:
        k = json.load(f)
    keys = {PATIENT: unhexlify(k["patient"]), CLINICIAN: unhexlify(k["clinician"])}
    return hw, board, keys, k["device"]


def _hal(hw, board):
    if hw.port == "unix":
        from pumphw.unix import Hal
    elif hw.port == "rp2":
        from pumphw.rp2 import Hal
    else:
        from pumphw.esp32 import Hal
    return Hal(hw, board)


def main():
    hal = None
    app = None
    try:
        hw, board, keys, device = _config()
        hal = _hal(hw, board)
        app = App(hal, board, hw, keys, device)
        asyncio.run(app.main())
    except KeyboardInterrupt:
        if hal is not None:
            hal.stop_for_repl()
        print("pump application stopped (Ctrl-C): motor stopped, delivery stopped")
    except Exception as e:  # the one last-resort handler (docs/boards/pico.md)
        if app is not None:
            app.last_resort(e)
        elif hal is not None:
            hal.motor.stop()
            hal.fatal(e)
        if hal is not None:
            hal.alarm_forever()
        raise
