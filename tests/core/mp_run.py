# Runs tests/core/test_*.py under the MicroPython unix port (or CPython): every test_* function
# of every module, printing one line per failure and a closing "N passed, M failed" line.
# Exit status 1 if anything failed. Usage: micropython tests/core/mp_run.py
import os
import sys

_here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
_root = _here + "/../.."
for p in (_here, _root + "/firmware", _root + "/sim", _root + "/protocol"):
    sys.path.insert(0, p)

passed = 0
failed = 0
for name in sorted(os.listdir(_here)):
    if not (name.startswith("test_") and name.endswith(".py")):
        continue
    mod = __import__(name[:-3])
    for attr in sorted(dir(mod)):
        if not attr.startswith("test_"):
            continue
        fn = getattr(mod, attr)
        try:
            fn()
            passed += 1
        except Exception as e:  # a test runner reports every failure and goes on
            failed += 1
            print("FAIL " + name + "::" + attr + ": " + type(e).__name__ + ": " + str(e))
            if hasattr(sys, "print_exception"):
                sys.print_exception(e)
print("micropython core: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
