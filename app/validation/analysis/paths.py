"""What a changed file is, by its path: source, test, environment file, binary."""

from __future__ import annotations

import posixpath
from fnmatch import fnmatchcase

from app.validation.analysis.model import PullFile

_TEST_DIRS = frozenset({"test", "tests", "__tests__", "spec"})
_TEST_NAMES = (
    "test_*.py",
    "*_test.py",
    "conftest.py",
    "*_test.go",
    "*.test.[jt]s",
    "*.test.[jt]sx",
    "*.test.mjs",
    "*.test.cjs",
    "*.spec.[jt]s",
    "*.spec.[jt]sx",
    "*.spec.mjs",
    "*.spec.cjs",
    "*Test.java",
    "*Tests.java",
    "*Test.kt",
    "*_spec.rb",
)
_SOURCE_EXTS = frozenset(
    "py js mjs cjs ts jsx tsx go rs java kt rb php c cc cpp h hpp cs swift scala m".split()
)
_BINARY_EXTS = frozenset(
    """png jpg jpeg gif bmp ico webp tif tiff psd pdf zip gz tgz bz2 xz 7z rar tar jar war ear
    class exe dll so dylib a o obj lib bin dat pyc pyo pyd whl egg woff woff2 ttf otf eot
    mp3 mp4 mov avi wav ogg flac webm mkv sqlite db parquet pkl pickle npy npz h5 onnx""".split()
)
_ENV_TEMPLATES = frozenset({"example", "sample", "template", "dist"})


def extension(path: str) -> str:
    """The lower-case extension of the file name (none for `.env` or `Makefile`)."""
    base = posixpath.basename(path)
    return base.rsplit(".", 1)[1].lower() if "." in base.lstrip(".") else ""


def is_test_file(path: str) -> bool:
    """A file in a test/tests/__tests__/spec directory or named like a test."""
    parts = path.split("/")
    if any(part.lower() in _TEST_DIRS for part in parts[:-1]):
        return True
    return any(fnmatchcase(parts[-1], pattern) for pattern in _TEST_NAMES)


def is_source_file(path: str) -> bool:
    """Code (by extension) that is not a test; docs and config are neither."""
    return extension(path) in _SOURCE_EXTS and not is_test_file(path)


def is_env_file(path: str) -> bool:
    """`.env` or `.env.<name>`, but not a template (`.env.example`)."""
    base = posixpath.basename(path)
    if base == ".env":
        return True
    if not base.startswith(".env."):
        return False
    return not _ENV_TEMPLATES.intersection(base.lower().split(".")[2:])


def is_binary(f: PullFile) -> bool:
    """Added or changed binary content, by extension or by GitHub giving no diff."""
    if f.status == "removed":
        return False
    if extension(f.filename) in _BINARY_EXTS:
        return True
    # GitHub omits `patch` for binaries and reports no line counts for them.
    return f.patch is None and f.additions == 0 and f.deletions == 0
