"""Read upstream source files and remember every one that was read.

The manifest must list every file the knowledge base was built from, with its checksum
and data version, so the build reads sources only through a :class:`SourceReader`.
Paths are relative to the sources directory (``../shared/data``), never absolute, so
the manifest does not depend on where the data was mounted.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from pgx.errors import KnowledgeBaseError


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def data_version_of(parsed: object) -> str | None:
    """The version a JSON source declares at its top level (``version``), if any.

    PharmCAT definition and phenotype files carry one (``2025-11-05-00-25``); CSV tables
    and JSON arrays do not, and their checksum alone identifies them.
    """
    if isinstance(parsed, dict) and isinstance(parsed.get("version"), str):
        return parsed["version"]
    return None


@dataclass
class SourceReader:
    """Reads files under ``root`` and records (path, sha256, data_version) for each."""

    root: Path
    used: dict[str, dict] = field(default_factory=dict)

    def path(self, relpath: str) -> Path:
        return self.root / relpath

    def exists(self, relpath: str) -> bool:
        return self.path(relpath).is_file()

    def read_bytes(self, relpath: str) -> bytes:
        """The file's bytes; a missing file is a KnowledgeBaseError naming it."""
        path = self.path(relpath)
        if not path.is_file():
            raise KnowledgeBaseError(f"source file {path} is missing; is --sources pointing at the shared data?")
        data = path.read_bytes()
        self.used.setdefault(relpath, {"path": relpath, "sha256": sha256_bytes(data), "data_version": None})
        return data

    def json(self, relpath: str) -> object:
        """Parsed JSON; its top-level ``version`` is recorded as the data version."""
        try:
            parsed = json.loads(self.read_bytes(relpath))
        except json.JSONDecodeError as exc:
            raise KnowledgeBaseError(f"{self.path(relpath)} is not valid JSON: {exc}") from exc
        self.used[relpath]["data_version"] = data_version_of(parsed)
        return parsed

    def csv_rows(self, relpath: str) -> list[dict[str, str]]:
        """Rows of a CSV file with a header, as dicts of strings."""
        text = self.read_bytes(relpath).decode("utf-8")
        return list(csv.DictReader(io.StringIO(text)))

    def tsv_rows(self, relpath: str) -> list[dict[str, str]]:
        """Rows of a tab-separated file with a header; short rows get empty trailing cells."""
        text = self.read_bytes(relpath).decode("utf-8")
        reader = csv.reader(io.StringIO(text), delimiter="\t")
        header = next(reader, [])
        return [dict(zip(header, row + [""] * (len(header) - len(row)))) for row in reader if row]

    def record(self, path: Path) -> None:
        """Record a file read by another module: a path under the sources directory, as
        another module built it (``root / relpath``, absolute or relative to the cwd)."""
        rel = Path(path).resolve().relative_to(self.root.resolve())
        relpath = rel.as_posix()
        if relpath not in self.used:
            data = self.read_bytes(relpath)
            if relpath.endswith(".json"):
                self.used[relpath]["data_version"] = data_version_of(json.loads(data))

    def manifest_entries(self) -> list[dict]:
        """Every source read, sorted by path."""
        return [self.used[p] for p in sorted(self.used)]
