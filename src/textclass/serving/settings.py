"""What `textclass serve` can set, and the API keys it accepts."""

import hashlib
import hmac
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from textclass.errors import TextclassError

log = logging.getLogger(__name__)

API_KEYS_ENV = "TEXTCLASS_API_KEYS"


@dataclass
class ServeSettings:
    """Everything `textclass serve` can set. Limits protect the server from huge requests."""

    model_dir: Path | None = None
    backend: Literal["auto", "torch", "onnx"] = "auto"
    precision: str = "auto"  # torch backend: auto | fp32 | bf16
    host: str = "127.0.0.1"
    port: int = 8000
    batching: bool = True
    max_batch_size: int = 32  # texts gathered into one pass
    max_wait_ms: float = 2.0  # how long a pass waits for more texts to arrive
    forward_batch_size: int = 8  # texts per forward call: a pass, sorted by length, in chunks
    max_queue: int = 4096  # texts waiting; beyond it requests get 503
    cache_size: int = 0  # LRU entries; 0 = off
    max_texts: int = 256  # per request
    max_chars: int = 10_000  # per text (and per text pair)
    request_timeout: float = 30.0  # seconds, whole request; 504 after that
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    log_level: str = "info"
    threads: int | None = None  # `serve`: inference threads; None = all cores but one

    def __post_init__(self) -> None:
        if self.model_dir is not None:
            self.model_dir = Path(self.model_dir)
        positive = (
            "max_batch_size",
            "forward_batch_size",
            "max_queue",
            "max_texts",
            "max_chars",
            "port",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise TextclassError(f"{name} must be at least 1 (got {getattr(self, name)}).")
        for name in ("cache_size", "max_wait_ms"):
            if getattr(self, name) < 0:
                raise TextclassError(f"{name} must not be negative (got {getattr(self, name)}).")
        if self.request_timeout <= 0:
            raise TextclassError("request_timeout must be positive.")
        if self.backend not in ("auto", "torch", "onnx"):
            raise TextclassError(f"backend {self.backend!r}: use auto, torch or onnx.")

    @property
    def max_body_bytes(self) -> int:
        """Largest accepted request body: the text limits at 6 bytes a character (JSON's
        \\uXXXX escapes), texts and pairs, plus room for the JSON around them."""
        return 2 * self.max_texts * (6 * self.max_chars + 16) + 64 * 1024


def load_api_keys(key_file: str | Path | None = None, env: str = API_KEYS_ENV) -> tuple[str, ...]:
    """API keys from a file (one a line; blank lines and `#` comments ignored) and/or the
    environment variable (comma- or space-separated). No keys: authentication is off."""
    keys: list[str] = []
    if key_file is not None:
        path = Path(key_file)
        if not path.is_file():
            raise TextclassError(f"--api-key-file {path}: no such file.")
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                keys.append(line)
        if not keys:
            raise TextclassError(f"--api-key-file {path} holds no keys (one key a line).")
        if os.name == "posix" and path.stat().st_mode & 0o004:
            log.warning("%s is readable by every user; consider chmod 600.", path)
    keys += os.environ.get(env, "").replace(",", " ").split()
    for key in keys:
        if len(key) < 16:
            log.warning("an API key is shorter than 16 characters; use long random keys.")
            break
    return tuple(dict.fromkeys(keys))


class KeyChecker:
    """Constant-time API key check: the digests of all keys are compared, every time."""

    def __init__(self, keys: Sequence[str]):
        self._digests = [hashlib.sha256(k.encode()).digest() for k in keys]

    def __bool__(self) -> bool:
        return bool(self._digests)

    def valid(self, key: str | None) -> bool:
        given = hashlib.sha256((key or "").encode()).digest()
        ok = False
        for digest in self._digests:
            ok |= hmac.compare_digest(digest, given)
        return ok and key is not None
