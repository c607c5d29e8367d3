"""Key files: a device name and one HMAC key per role, hex-encoded JSON. `pumpctl keys new`
makes one (owner-readable only); `pumpctl flash` will provision the pump from it (issue 4) and
every host command signs with it. The pump never sends a key back."""
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


def new_keys(path, device):
    """Write a fresh key file; refuses to overwrite one (that would orphan a provisioned pump)."""
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
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
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
