"""Shared pytest fixtures.

``shared_data``: the upstream sources (``../shared/data`` beside the checkout, or
``$PGX_SHARED_DATA``). Tests marked ``@pytest.mark.shared_data`` are skipped with a
clear reason when that directory is absent, as on a user's fresh machine.

``make_vcf`` / :func:`write_vcf`: a small VCF builder (plain, bgzipped, indexed) whose
positions default to reference; :func:`loci_table` and :func:`kb_loci_for` give KB-shaped
loci tables (a hand-written one, or a gene's real KB positions).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import pandas as pd

#: where CI keeps the upstream data: a ``shared`` directory beside the checkout
SHARED_DATA = Path(os.environ.get("PGX_SHARED_DATA") or Path(__file__).resolve().parents[1].parent / "shared" / "data")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``shared_data`` tests when the upstream data is not there."""
    if SHARED_DATA.is_dir():
        return
    skip = pytest.mark.skip(reason=f"upstream data not found at {SHARED_DATA}; set PGX_SHARED_DATA to run this test")
    for item in items:
        if "shared_data" in item.keywords:
            item.add_marker(skip)


REPO = Path(__file__).resolve().parents[1]
#: what tests may leave in the checkout (caches of Python and pytest)
_TREE_NOISE = ("__pycache__", ".pytest_cache", ".egg-info", ".hypothesis")


def _tree_state() -> set[str] | None:
    """The ignored entries of the checkout (``git status --ignored``: where runs write,
    ``results/``, ``.snakemake/``, ``logs/``, temporaries), or None outside git. Edits to
    tracked or new files are left out: a developer may be editing while tests run."""
    import subprocess

    try:
        out = subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=REPO, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return {line for line in out.stdout.splitlines() if line.startswith("!!") and not any(n in line for n in _TREE_NOISE)}


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_TREE_KEY] = _tree_state()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Tests work in temporary folders: one that wrote into the checkout fails the run
    (it would make the tests depend on the working tree, e.g. on a demo run before them)."""
    before = session.config.stash.get(_TREE_KEY, None)
    after = _tree_state() if before is not None else None
    if before is None or after is None or not after - before:
        return
    changed = sorted(after - before)
    session.config.get_terminal_writer().line(
        f"tests wrote into the checkout {REPO} (they must use temporary folders): {', '.join(changed)}", red=True
    )
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


_TREE_KEY = pytest.StashKey[set]()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The upstream data directory (tests using it must be marked ``shared_data``)."""
    return SHARED_DATA


#: marks a test that reads ``SHARED_DATA``; skipped (with the reason above) when it is absent
requires_shared_data = pytest.mark.shared_data


# --- VCF fixtures ----------------------------------------------------------------------
# A PharmCAT-style builder: every KB position given in ``loci`` defaults to a reference
# record, and ``records`` override or add positions. Tests pin behaviour with a few lines.

VcfRecord = tuple  # (chrom, pos, ref, alt, [one GT string per sample]) [+ (info,)]


def write_vcf(
    path: Path,
    *,
    samples: list[str] = ("S1",),
    records: list[VcfRecord] = (),
    loci: "pd.DataFrame | None" = None,
    ref_gt: str = "0/0",
    contigs: list[str] | None = None,
    bgzip: bool = False,
    index: bool | str = False,
    header_extra: list[str] = (),
    fmt: str = "GT",
) -> Path:
    """Write a small VCF and return ``path``.

    ``records`` are ``(chrom, pos, ref, alt, gts)`` or ``(..., info)``; ``alt`` may be "."
    and ``gts`` holds one string per sample, in ``fmt`` (e.g. ``"0|1:7"`` for ``GT:PS``).
    With ``loci`` (a KB loci table), every locus no record names is written as a reference
    record with ``ref_gt`` for every sample. ``contigs`` default to the records' chromosomes.
    ``bgzip`` compresses with BGZF (``path`` is the compressed file); ``index`` is True/"tbi"
    or "csi" to index it.
    """
    from pgx.vcf import bgzip_vcf

    records = [tuple(r) for r in records]
    named = {(r[0], int(r[1])) for r in records}
    if loci is not None:
        for row in loci.itertuples():
            if (row.chrom, int(row.pos)) not in named:
                records.append((row.chrom, int(row.pos), row.ref, row.alts or ".", [ref_gt] * len(samples)))
    contigs = list(contigs) if contigs is not None else list(dict.fromkeys(r[0] for r in records))
    rank = {c: i for i, c in enumerate(dict.fromkeys([*contigs, *(r[0] for r in records)]))}
    records.sort(key=lambda r: (rank[r[0]], int(r[1])))
    lines = [
        "##fileformat=VCFv4.2",
        *(f"##contig=<ID={c}>" for c in contigs),
        '##INFO=<ID=END,Number=1,Type=Integer,Description="End of a reference block">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        '##FORMAT=<ID=PS,Number=1,Type=Integer,Description="Phase set">',
        *header_extra,
        "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *samples]),
    ]
    for chrom, pos, ref, alt, gts, *info in records:
        lines.append("\t".join([chrom, str(pos), ".", ref, alt, ".", "PASS", info[0] if info else ".", fmt, *gts]))
    text = "\n".join(lines) + "\n"
    path = Path(path)
    if not bgzip:
        path.write_text(text, encoding="utf-8")
        return path
    plain = path.with_name(path.name + ".plain")
    plain.write_text(text, encoding="utf-8")
    bgzip_vcf(plain, path, index=("tbi" if index is True else index) or None)
    plain.unlink()
    return path


@pytest.fixture
def make_vcf():
    """The :func:`write_vcf` builder: ``make_vcf(tmp_path / "x.vcf", samples=[...], records=[...])``."""
    return write_vcf


def loci_table(rows: list[tuple]) -> "pd.DataFrame":
    """A KB-shaped loci table from ``(gene, chrom, pos, ref, alts)`` rows (other columns empty)."""
    import pandas as pd

    from pgx.schema import KB_TABLES

    df = pd.DataFrame(rows, columns=["gene", "chrom", "pos", "ref", "alts"])
    for col in KB_TABLES["loci"]:
        if col not in df:
            df[col] = "core" if col == "role" else None if col == "grch37_pos" else ""
    return df[list(KB_TABLES["loci"])].astype({"pos": "int64"})


def kb_loci_for(gene: str) -> "pd.DataFrame":
    """``gene``'s KB loci: from the built KB, else from PharmCAT's definition file in
    ``SHARED_DATA`` (``variants``: position, ref, alts); skips the test when neither exists."""
    import json

    from pgx.errors import KnowledgeBaseError
    from pgx.kb import load_kb

    try:
        return load_kb().loci([gene])
    except KnowledgeBaseError:
        pass
    source = SHARED_DATA / "pharmcat" / "alleles" / f"{gene}_translation.json"
    if not source.exists():
        pytest.skip(f"no knowledge base built and no {source}; cannot list {gene}'s KB positions")
    data = json.loads(source.read_text())
    rows = [(gene, data["chromosome"], v["position"], v["ref"], ",".join(v["alts"])) for v in data["variants"]]
    df = loci_table(rows)
    df["rsid"] = [v["rsid"] or "" for v in data["variants"]]
    return df


def commit_tables(out_dir: Path, frames: dict) -> dict:
    """Write ``{table: frame}`` into ``out_dir`` as one committed run (as ``run_batch``
    does), so readers that check for a complete run accept them; returns the paths."""
    from pgx.outputs import StagedRun, run_id

    run = run_id({"tables": sorted(frames), "test": str(out_dir)})
    with StagedRun(out_dir, run) as staged:
        for table, frame in frames.items():
            staged.write(frame, table)
        staged.commit(list(frames))
    return {table: Path(out_dir) / f"{table}.parquet" for table in frames}
