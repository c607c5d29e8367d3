# The programme text's JSON reader: the same verdict on every interpreter (review finding:
# MicroPython's json accepts text CPython rejects). SR-8.
from pumplink.strictjson import JSONError, loads


def test_reads_what_a_programme_needs():
    assert loads(b' {"mode":"flex","days":[[[0,2100],[360,-5]]],"x":true,"y":null,'
                 b'"z":false,"e":{},"a":[]} ') == {
        "mode": "flex", "days": [[[0, 2100], [360, -5]]], "x": True, "y": None, "z": False,
        "e": {}, "a": []}


def test_refuses_everything_else_with_where_and_why():
    for text, at in ((b'{"a":1,}', 7), (b'{"a":1 "b":2}', 7), (b'{"a":1}\x00', 7),
                     (b'{"a":01}', 5), (b'[1 2]', 3), (b'{"a":1.5}', 6), (b'{"a":1e3}', 6),
                     (b'{"a":1,"a":2}', 7), (b'{"\\u00e9":1}', 2), (b'["\xc3\xa9"]', 2),
                     (b'[' * 9 + b']' * 9, 8), (b'{"a":1', 6), (b'', 0), (b'tru', 0),
                     (b'{"a":12345678901234}', 5), (b'{1:2}', 1), (b'-', 1), (b'NaN', 0)):
        try:
            loads(text)
            raise AssertionError("accepted " + repr(text))
        except JSONError as e:
            assert e.at == at, (text, e.at, e.why)
