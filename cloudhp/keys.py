"""SSH keypairs generated on the bastion; the private key never leaves it."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloudhp.errors import EnvironmentProblem


class DamagedKey(EnvironmentProblem):
    """The private key file exists but cannot be read as a key (truncated by a killed
    run of an older cloudhp, or edited); the nodes made with it accept only that key."""


@dataclass(frozen=True)
class KeyPair:
    private_path: Path
    public_key: str  # OpenSSH one-line format


def write_private(path: Path, data: bytes) -> None:
    """Write a secret file 0600 from the start, through a temporary file renamed into
    place, so neither another user nor a reader racing a killed writer sees a part."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def ensure_keypair(path: Path, comment: str = "cloudhp") -> KeyPair:
    """Load the ed25519 key at `path`, generating it (0600) if it does not exist.

    Raises:
        DamagedKey: the file is there but holds no readable key; nothing is changed.
    """
    if path.exists():
        try:
            key = serialization.load_ssh_private_key(path.read_bytes(), password=None)
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise DamagedKey(
                f"the SSH key {path} is damaged and cannot be read ({exc})",
                hint="restore it from a backup: the cluster's nodes accept only that key "
                "(if no node was ever made with it, remove it and run again: a new one is "
                "made)",
            ) from None
    else:
        key = Ed25519PrivateKey.generate()
        write_private(
            path,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.OpenSSH,
                serialization.NoEncryption(),
            ),
        )
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return KeyPair(path, f"{public.decode()} {comment}")
