# The programme text's JSON, read strictly and identically on every interpreter. MicroPython's
# json accepts text CPython rejects (missing or trailing commas, a trailing NUL, leading zeros),
# so the board and the simulator would disagree on what a valid programme is. This reads only
# what a programme needs: objects with unique keys, arrays, whole numbers, plain ASCII strings
# without escapes, true, false, null; nesting at most MAX_DEPTH deep. Anything else is refused
# with the byte offset and why.

MAX_DEPTH = 8
MAX_DIGITS = 12


class JSONError(Exception):
    def __init__(self, at, why):
        super().__init__(why)
        self.at = at
        self.why = why


def loads(text):
    """bytes -> value; raises JSONError(at, why)."""
    r = _Reader(text)
    r.space()
    value = r.value(0)
    r.space()
    if r.i != len(text):
        r.fail("text after the value")
    return value


class _Reader:
    def __init__(self, text):
        self.t = text
        self.i = 0

    def fail(self, why):
        raise JSONError(self.i, why)

    def space(self):
        t = self.t
        while self.i < len(t) and t[self.i] in b" \t\r\n":
            self.i += 1

    def peek(self):
        if self.i >= len(self.t):
            self.fail("text ends too soon")
        return self.t[self.i]

    def expect(self, ch):
        if self.peek() != ch:
            self.fail("expected '" + chr(ch) + "'")
        self.i += 1

    def value(self, depth):
        c = self.peek()
        if c == 0x7B:                       # {
            return self.obj(depth + 1)
        if c == 0x5B:                       # [
            return self.arr(depth + 1)
        if c == 0x22:                       # "
            return self.string()
        if c == 0x2D or 0x30 <= c <= 0x39:  # - or digit
            return self.number()
        for word, v in ((b"true", True), (b"false", False), (b"null", None)):
            if self.t[self.i:self.i + len(word)] == word:
                self.i += len(word)
                return v
        self.fail("unexpected character")

    def _nest(self, depth):
        if depth > MAX_DEPTH:
            self.fail("nested more than " + str(MAX_DEPTH) + " deep")
        self.i += 1
        self.space()

    def obj(self, depth):
        self._nest(depth)
        d = {}
        if self.peek() == 0x7D:
            self.i += 1
            return d
        while True:
            if self.peek() != 0x22:
                self.fail("expected a key")
            at = self.i
            key = self.string()
            if key in d:
                self.i = at
                self.fail("key '" + key + "' given twice")
            self.space()
            self.expect(0x3A)               # :
            self.space()
            d[key] = self.value(depth)
            self.space()
            if self.peek() == 0x7D:
                self.i += 1
                return d
            self.expect(0x2C)               # ,
            self.space()

    def arr(self, depth):
        self._nest(depth)
        out = []
        if self.peek() == 0x5D:
            self.i += 1
            return out
        while True:
            out.append(self.value(depth))
            self.space()
            if self.peek() == 0x5D:
                self.i += 1
                return out
            self.expect(0x2C)
            self.space()

    def string(self):
        self.i += 1
        start = self.i
        t = self.t
        while True:
            c = self.peek()
            if c == 0x22:
                break
            if c == 0x5C or c < 0x20 or c > 0x7E:
                self.fail("strings are plain ASCII without escapes")
            self.i += 1
        self.i += 1
        return t[start:self.i - 1].decode()

    def number(self):
        start = self.i
        t = self.t
        if t[self.i] == 0x2D:
            self.i += 1
        digits = self.i
        while self.i < len(t) and 0x30 <= t[self.i] <= 0x39:
            self.i += 1
        n = self.i - digits
        if n == 0:
            self.fail("expected a digit")
        if n > 1 and t[digits] == 0x30:
            self.i = digits
            self.fail("leading zero")
        if n > MAX_DIGITS:
            self.i = digits
            self.fail("number too long")
        if self.i < len(t) and t[self.i] in b".eE":
            self.fail("numbers must be whole")
        return int(t[start:self.i])
