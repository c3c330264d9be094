"""What a VCF data line says, read from its text: INFO/END and SVLEN, symbolic and
structural alleles, gVCF reference blocks, whether a REF agrees with the KB's. Pure
helpers shared by the extract and decode steps (see :mod:`pgx.vcf`)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd


_REF_BLOCK_ALTS = {"<NON_REF>", "<*>"}
_END_RE = re.compile(r"(?:^|;)END=(\d+)")
_SVLEN_RE = re.compile(r"(?:^|;)SVLEN=(-?\d+)")
MAX_LISTED = 5


def split_alts(alts: object) -> list[str]:
    if alts is None or (not isinstance(alts, str) and pd.isna(alts)):
        return []
    return [a.strip().upper() for a in str(alts).split(",") if a.strip()]


def as_text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def line_overlaps(line: str, start: int, end: int) -> bool:
    """Does a VCF record's span (POS .. END, or the end of REF) overlap [start, end]?"""
    fields = line.split("\t", 8)
    pos = int(fields[1])
    if pos > end:
        return False
    stop = pos + len(fields[3]) - 1
    if len(fields) > 7:
        stop = max(stop, info_end(fields[7]) or 0)
    return stop >= start


def info_end(info: str) -> int | None:
    m = _END_RE.search(info)
    return int(m.group(1)) if m else None


def info_svlen(info: str) -> int | None:
    m = _SVLEN_RE.search(info)
    return int(m.group(1)) if m else None


def is_symbolic(allele: str) -> bool:
    return allele.startswith("<") or "[" in allele or "]" in allele


def is_ref_block(alts: list[str]) -> bool:
    return all(a in _REF_BLOCK_ALTS for a in alts)


def ref_agrees(vcf_ref: str, kb_ref: str, kb_alts: list[str], grch37: bool) -> bool:
    """Does a record's REF fit the KB locus? GRCh38: it is the KB REF (over their common
    length). GRCh37: it may also be a KB ALT, because the KB REF is GRCh38's and at a few
    positions GRCh37's reference carries the other allele (CYP2C19 rs3758581)."""
    if _same_reference(vcf_ref, kb_ref):
        return True
    return grch37 and any(_same_reference(vcf_ref, a) for a in kb_alts if len(a) == len(kb_ref))


def _same_reference(vcf_ref: str, kb_ref: str) -> bool:
    """Do two REF strings starting at one POS agree over their common length (N = any)?"""
    return all(a == b or a == "N" or b == "N" for a, b in zip(vcf_ref, kb_ref))


def listing(items: list[str]) -> str:
    more = f" and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else ""
    return ", ".join(items[:MAX_LISTED]) + more


def is_sv_allele(allele: str) -> bool:
    """A symbolic structural-variant ALT (``<DEL>``, ``<DUP:TANDEM>``, ``<CNV>``, ``<INV>``,
    a breakend): not a gVCF reference-block allele (``<NON_REF>``, ``<*>``)."""
    return is_symbolic(allele) and allele not in _REF_BLOCK_ALTS


def has_sv_allele(alts: list[str]) -> bool:
    return any(is_sv_allele(a) for a in alts)


def sv_span(pos: int, ref: str, end: object = None, svlen: object = None) -> tuple[int, int]:
    """The bases a structural-variant record changes: POS+1 .. END (POS is its padding base),
    END from INFO/END, else POS + |SVLEN|; a record with neither is the point POS."""
    if isinstance(svlen, (tuple, list)):
        svlen = next((v for v in svlen if v is not None), None)
    stop = None
    if isinstance(end, (int, np.integer)) and end > pos:
        stop = int(end)
    elif isinstance(svlen, (int, np.integer)) and svlen != 0:
        stop = pos + abs(int(svlen))
    return (pos + 1, stop) if stop else (pos, pos + max(len(ref), 1) - 1)
