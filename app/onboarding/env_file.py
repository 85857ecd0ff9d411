"""Writing the App's credentials into `.env`: other lines kept, mode 0600,
replaced atomically so a crash never leaves half a private key behind."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path

_KEY_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")
_BARE = re.compile(r"^[A-Za-z0-9_./:@+-]*$")


class EnvFileError(OSError):
    """`.env` cannot be written; `str()` says which file and why (never a value)."""


def quote_value(value: str) -> str:
    """A value as `app.config.parse_dotenv` reads it back: bare when plain, else
    double-quoted on one line with newlines as `\\n` (a PEM key)."""
    if _BARE.match(value):
        return value
    if any(c in value for c in '"\\\r\0'):
        raise ValueError("a value with quotes, backslashes or CR cannot be written to .env")
    return '"' + value.replace("\n", "\\n") + '"'


def _spans(lines: list[str]) -> list[tuple[str | None, int, int]]:
    """(key or None, first line, line after) for each entry, following
    parse_dotenv: a quoted value may run over several lines."""
    spans: list[tuple[str | None, int, int]] = []
    i = 0
    while i < len(lines):
        start = i
        line = lines[i]
        i += 1
        match = _KEY_LINE.match(line)
        if not match or line.lstrip().startswith("#"):
            spans.append((None, start, i))
            continue
        value = match.group(2).strip()
        if value[:1] in {'"', "'"}:
            quote, body = value[0], value[1:]
            while not body.rstrip().endswith(quote) and i < len(lines):
                body += "\n" + lines[i]
                i += 1
        spans.append((match.group(1), start, i))
    return spans


def merge_env(text: str, updates: Mapping[str, str], *, heading: str = "") -> str:
    """`text` with each key of `updates` set: an existing entry is replaced in
    place (all its lines), a new one is appended; every other line is kept."""
    lines = text.splitlines()
    out: list[str] = []
    written: set[str] = set()
    for key, start, end in _spans(lines):
        if key is not None and key in updates:
            if key not in written:
                out.append(f"{key}={quote_value(updates[key])}")
                written.add(key)
            continue
        out.extend(lines[start:end])
    missing = [k for k in updates if k not in written]
    if missing:
        if out and out[-1].strip():
            out.append("")
        if heading:
            out.append(f"# {heading}")
        out.extend(f"{k}={quote_value(updates[k])}" for k in missing)
    return "\n".join(out) + "\n"


def check_writable(path: Path) -> None:
    """Fail now, before a one-time code is spent, if `path` cannot be replaced."""
    probe = path.with_name(f".{path.name}.probe-{secrets.token_hex(4)}")
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        os.unlink(probe)
        if path.exists() and not path.is_file():
            raise EnvFileError(f"{path} is not a regular file")
    except EnvFileError:
        raise
    except OSError as exc:
        raise EnvFileError(f"cannot write next to {path}: {exc.strerror}") from None


def write_env(path: Path, updates: Mapping[str, str], *, heading: str = "") -> None:
    """Set `updates` in the file at `path` (created if missing), mode 0600,
    through a temporary file renamed over it."""
    try:
        current = path.read_text() if path.exists() else ""
    except OSError as exc:
        raise EnvFileError(f"cannot read {path}: {exc.strerror}") from None
    text = merge_env(current, updates, heading=heading)
    tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        os.chmod(path, 0o600)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise EnvFileError(f"cannot write {path}: {exc.strerror}") from None
