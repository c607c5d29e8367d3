# A board's main.py, as `pumpctl flash` writes it: start the pump firmware (pumpapp.start).
from pumpapp.start import main

main()
