# Consistent Overhead Byte Stuffing (Cheshire & Baker, 1999): turns a frame into bytes with no
# 0x00, so 0x00 can delimit frames and a receiver resynchronises at the next one. Overhead is
# one byte per 254. encode_into/decode_into work in caller buffers: nothing allocated per byte.


def encoded_size(n):
    """Largest COBS encoding of n bytes (without the 0x00 delimiter)."""
    return n + n // 254 + 1


def encode_into(src, n, dst):
    """COBS-encode src[:n] into dst; returns the encoded length."""
    code_at = 0
    out = 1
    code = 1
    for i in range(n):
        b = src[i]
        if b:
            dst[out] = b
            out += 1
            code += 1
        if not b or code == 0xFF:
            dst[code_at] = code
            code_at = out
            out += 1
            code = 1
    dst[code_at] = code
    return out


def decode_into(src, n, dst):
    """COBS-decode src[:n] into dst; returns the decoded length, or -1 if src[:n] is not a
    valid encoding (a zero byte, or a code that runs past the end)."""
    i = 0
    out = 0
    while i < n:
        code = src[i]
        if code == 0 or i + code > n:
            return -1
        i += 1
        for _ in range(code - 1):
            b = src[i]
            if b == 0:
                return -1
            dst[out] = b
            out += 1
            i += 1
        if code != 0xFF and i < n:
            dst[out] = 0
            out += 1
    return out


def encode(data):
    """bytes -> bytes (convenience for the host and tests)."""
    buf = bytearray(encoded_size(len(data)))
    return bytes(buf[:encode_into(data, len(data), buf)])


def decode(data):
    """bytes -> bytes, or None if invalid."""
    buf = bytearray(len(data))
    n = decode_into(data, len(data), buf)
    return None if n < 0 else bytes(buf[:n])
