"""pumphw: the board layer. config and the pure logic (button, tones, battery, stall, steps)
run anywhere; only the port modules import machine, rp2 or esp32."""
