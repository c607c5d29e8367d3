"""Key files: a device name and one HMAC key per role, hex-encoded JSON. `pumpctl keys new`
makes one (owner-readable only); the pump is provisioned with the same keys (`pumpctl flash
--keys FILE`; the served simulator by `sim --serve --keys FILE`) and every host command that
changes the pump signs with it. The pump never sends a key back.

Beside each key file, FILE.counters holds the replay counters' high-water marks of the pump
serving those keys ([read, patient, clinician], written by `save_counters`). It is made with
the key file, at [0, 0, 0], so a pump served with keys that were never used starts from there;
a key file whose counters file is missing has lost it, and a served pump refuses it."""
import json
import os
import secrets

from pumpwire.auth import CLINICIAN, PATIENT, ROLE_NAMES

KEY_BYTES = 32


class KeyFileError(Exception):
    pass


def check_device(device, where):
    if not 0 < len(device.encode()) <= 16:
        raise KeyFileError(f"{where}: device name must be 1-16 bytes, not {device!r}")


def counters_path(key_path):
    """Where the replay counters of the pump holding these keys live."""
    return key_path + ".counters"


def save_counters(path, high_water):
    """Write the counter marks whole to a temporary file, then rename it over the old one and
    sync the folder, so a power cut leaves either the old marks or the new, never neither."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(list(high_water), f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(fd)             # the rename itself survives a power cut
    finally:
        os.close(fd)


def new_keys(path, device):
    """Write a fresh key file and its counters file at [0, 0, 0]; refuses to overwrite a key
    file (that would orphan a provisioned pump)."""
    check_device(device, "--device")
    data = {"device": device}
    for role in (PATIENT, CLINICIAN):
        data[ROLE_NAMES[role]] = secrets.token_hex(KEY_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{path}: already exists; not overwriting a key file") from None
    except OSError as e:
        raise KeyFileError(f"{path}: cannot create: {e.strerror}") from None
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1)
            f.write("\n")
        save_counters(counters_path(path), (0, 0, 0))
    except OSError as e:
        os.remove(path)          # never used: a key file without its counters is no use
        raise KeyFileError(f"{path}: cannot write: {e.strerror}") from None
    return load_keys(path)


def load_keys(path):
    """(device, {role: key bytes}) from a key file, with a clear error for anything wrong."""
    try:
        with open(path) as f:
            data = json.load(f)
    except OSError as e:
        raise KeyFileError(f"{path}: cannot read key file: {e.strerror}") from None
    except ValueError as e:
        raise KeyFileError(f"{path}: not a key file (bad JSON: {e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("device"), str):
        raise KeyFileError(f"{path}: not a key file (needs a \"device\" name)")
    check_device(data["device"], path)
    keys = {}
    for role in (PATIENT, CLINICIAN):
        text = data.get(ROLE_NAMES[role])
        if text is None:
            continue
        try:
            key = bytes.fromhex(text)
        except (TypeError, ValueError):
            raise KeyFileError(f"{path}: {ROLE_NAMES[role]} key is not hex") from None
        if len(key) < 16:
            raise KeyFileError(f"{path}: {ROLE_NAMES[role]} key is shorter than 16 bytes")
        keys[role] = key
    return data["device"], keys
