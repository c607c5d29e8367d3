# Field checks shared by the board and programme parsers. A bad field raises Invalid inside the
# parser, which unwinds the whole parse; the parser's public function turns it into a value
# (field, reason), so a bad input is rejected whole and nothing half-built escapes.


class Invalid(Exception):
    def __init__(self, field, reason):
        super().__init__(field, reason)
        self.field = field
        self.reason = reason


def integer(d, key, lo, hi, default=None, prefix=""):
    """d[key] as an int in [lo, hi]; default when absent (None: required)."""
    name = prefix + key
    if key not in d:
        if default is None:
            raise Invalid(name, "required")
        return default
    v = d[key]
    if isinstance(v, bool) or not isinstance(v, int):
        raise Invalid(name, "must be an integer")
    if v < lo or v > hi:
        raise Invalid(name, "out of range " + str(lo) + ".." + str(hi))
    return v


def table(d, key, prefix="", required=True):
    """d[key] as a dict (a sub-table); None when absent and not required."""
    if key not in d:
        if required:
            raise Invalid(prefix + key, "required")
        return None
    v = d[key]
    if not isinstance(v, dict):
        raise Invalid(prefix + key, "must be a table")
    return v


def array(d, key, prefix="", lo=0, hi=1000):
    """d[key] as a list of lo..hi items (absent counts as empty)."""
    v = d.get(key, [])
    if not isinstance(v, (list, tuple)):
        raise Invalid(prefix + key, "must be a list")
    if len(v) < lo or len(v) > hi:
        raise Invalid(prefix + key, "needs " + str(lo) + ".." + str(hi) + " items")
    return v


def only(d, allowed, prefix=""):
    """Reject unknown keys: a misspelt limit must not be silently ignored."""
    for k in d:
        if k not in allowed:
            raise Invalid(prefix + str(k), "unknown field")
