"""Sample IDs as labs write them, and the file names derived from them.

A sample ID is the lab's: ``Patient 12``, ``O'Brien & Co``, ``患者-7``, ``NA12878``. pgx
accepts any printable text and keeps it exactly as written in every table and report (a
report escapes it where it shows it). It refuses only what cannot be an ID:

* an empty ID;
* an ID longer than ``MAX_SAMPLE_ID_CHARS`` characters (a #CHROM line of a damaged or
  hostile file can hold one of megabytes; messages show only its start);
* characters that are not printable text: control characters (``\\x01``, ``\\x7f``),
  format characters (zero-width joiners, right-to-left overrides that make one ID display
  as another), line and paragraph separators, private-use, surrogate and unassigned code
  points. Spaces of any kind are printable and allowed.

File names are never the raw ID. :func:`report_file_names` gives each ID a name that is
safe on every file system and never leaves its folder: the ID itself when it is already
a short ASCII name (``HG00096``), else a readable ASCII slug plus a short hash of the
exact ID (``Patient_12-3f9a61c2d0``). IDs that would collide on a case-insensitive file
system (``ab``/``AB``) get the hash too. The mapping is written beside the files
(:func:`write_file_index`), so a report can always be found from its ID.
"""

from __future__ import annotations

import csv
import hashlib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path

#: the longest sample ID accepted (characters); a 200-character ID in any script fits
MAX_SAMPLE_ID_CHARS = 1000

#: characters of an ID shown in a message (the rest is summarised)
SHOWN_CHARS = 60

#: Unicode general categories that are not printable text (every other one is)
NOT_PRINTABLE = {
    "Cc": "a control character",
    "Cf": "an invisible format character",
    "Cs": "a surrogate code point",
    "Co": "a private-use character",
    "Cn": "an unassigned code point",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
}

#: an ID used as the file name as it is: short ASCII letters, digits and ``_ . + -``,
#: not starting with ``.`` or ``-`` (so never ``.``, ``..`` or an option-like name)
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,63}")
_SLUG_CUT = re.compile(r"[^A-Za-z0-9._+-]+")
_SLUG_MAX = 48
_HASH_CHARS = 10
#: names Windows reserves whatever the extension (a share may be read from Windows)
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


def shown(sample_id: str) -> str:
    """The ID for a message: quoted, escapes for what is not printable, cut after
    ``SHOWN_CHARS`` characters with the full length said."""
    text = repr(sample_id[:SHOWN_CHARS])
    return text if len(sample_id) <= SHOWN_CHARS else f"{text}... ({len(sample_id)} characters)"


def sample_id_problem(sample_id: str) -> str | None:
    """Why ``sample_id`` cannot be a sample ID (a short phrase), or None when it can."""
    if sample_id == "":
        return "is empty"
    if len(sample_id) > MAX_SAMPLE_ID_CHARS:
        return f"is longer than {MAX_SAMPLE_ID_CHARS} characters ({len(sample_id)})"
    for i, ch in enumerate(sample_id):
        what = NOT_PRINTABLE.get(unicodedata.category(ch))
        if what:
            return f"contains {what} (U+{ord(ch):04X}, character {i + 1})"
    return None


def unusable_sample_ids(sample_ids: Iterable[str]) -> list[tuple[str, str]]:
    """(ID, why) for every ID of ``sample_ids`` that cannot be a sample ID."""
    return [(s, why) for s in sample_ids if (why := sample_id_problem(s))]


def describe_unusable(problems: Sequence[tuple[str, str]], most: int = 5) -> str:
    """``'a\\x01b' contains a control character ...; '' is empty`` (at most ``most``)."""
    listed = "; ".join(f"{shown(s)} {why}" for s, why in problems[:most])
    return listed + (f"; and {len(problems) - most} more" if len(problems) > most else "")


def id_hash(sample_id: str) -> str:
    """A short hash of the exact ID (its UTF-8 bytes)."""
    return hashlib.sha256(sample_id.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_CHARS]


def slug(sample_id: str) -> str:
    """A readable ASCII form of an ID: accents dropped (``Ünïcödé`` -> ``Unicode``), runs
    of other characters as one ``_``, at most a few dozen characters."""
    ascii_text = unicodedata.normalize("NFKD", sample_id).encode("ascii", "ignore").decode("ascii")
    text = _SLUG_CUT.sub("_", ascii_text).strip("._+-")
    return text[:_SLUG_MAX].rstrip("._+-")


def file_stem(sample_id: str) -> str:
    """The file name (without extension) of one ID, before batch-wide collisions."""
    if _PLAIN_NAME.fullmatch(sample_id) and sample_id.lower().split(".")[0] not in _RESERVED:
        return sample_id
    return f"{slug(sample_id) or 'sample'}-{id_hash(sample_id)}"


def report_file_names(sample_ids: Iterable[str], suffix: str = ".pdf") -> dict[str, str]:
    """ID -> file name for a batch: :func:`file_stem` plus ``suffix``, and the hash added
    to plain names that only differ in case from another (case-insensitive file systems)."""
    ids = list(dict.fromkeys(sample_ids))
    stems = {s: file_stem(s) for s in ids}
    by_folded: dict[str, list[str]] = {}
    for s, stem in stems.items():
        by_folded.setdefault(stem.casefold(), []).append(s)
    for clash in (group for group in by_folded.values() if len(group) > 1):
        for s in clash:
            if stems[s] == s:
                stems[s] = f"{slug(s) or 'sample'}-{id_hash(s)}"
    names = {s: stem + suffix for s, stem in stems.items()}
    if len({n.casefold() for n in names.values()}) != len(names):  # two hashes alike: never seen
        raise ValueError("two sample IDs give the same report file name; rename one of them")
    return names


#: the mapping file written beside the reports
INDEX_NAME = "index.tsv"


def write_file_index(names: dict[str, str], path: Path) -> Path:
    """Write ``sample_id``/``file`` rows (TSV, quoted where an ID needs it) to ``path``."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        writer.writerow(["sample_id", "file"])
        writer.writerows(sorted(names.items(), key=lambda kv: kv[1]))
    return path


def read_file_index(path: Path) -> dict[str, str]:
    """The ``sample_id`` -> ``file`` mapping written by :func:`write_file_index`."""
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh, delimiter="\t"))
    return {sample_id: name for sample_id, name in rows[1:]}
