"""Pull-request files for the analysis tests."""

from __future__ import annotations

from app.validation.analysis.model import PullFile


def new_file(name: str, lines: list[str], status: str = "added") -> PullFile:
    """A PullFile whose whole content is added, lines numbered from 1."""
    patch = f"@@ -0,0 +1,{len(lines)} @@\n" + "".join(f"+{line}\n" for line in lines)
    return PullFile(name, status, len(lines), 0, patch)
