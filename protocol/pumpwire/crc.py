# CRC-32/ISO-HDLC (the "IEEE" CRC-32 of zlib, Ethernet and binascii): poly 0x04C11DB7
# reflected (0xEDB88320), init and xorout 0xFFFFFFFF, check value 0xCBF43926 over b"123456789".
# crc32() is C-speed binascii.crc32 where the port has it (every MicroPython board port and
# CPython), else crcmod's on the host; crc32_reference() is the slow, obvious definition the
# tests hold both to. No allocation per byte.
CHECK = 0xCBF43926

try:
    from binascii import crc32 as _fast
except ImportError:
    _fast = None


def crc32_reference(data, crc=0):
    """Bit by bit, as the standard defines it; crc continues an earlier result."""
    crc ^= 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0xEDB88320 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


if _fast is not None:
    def crc32(data, crc=0):
        return _fast(data, crc) & 0xFFFFFFFF
else:
    try:
        import crcmod.predefined
        _mk = crcmod.predefined.mkPredefinedCrcFun("crc-32")

        def crc32(data, crc=0):
            return _mk(data, crc)
    except ImportError:
        crc32 = crc32_reference
