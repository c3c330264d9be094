"""The knowledge-base loci arranged for a read (:class:`KbIndex`): by canonical contig and
position, with the gene regions ``--assume-reference`` needs and the spans of KB indels
(see :mod:`pgx.vcf`)."""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import pandas as pd

from pgx import normalize
from pgx.builds import canonical_contig
from pgx.errors import KnowledgeBaseError
from pgx.vcf.records import split_alts


#: With --assume-reference, a gene's absent KB positions are filled as reference only
#: when the file has some record within this many bases of the gene's KB positions: a
#: variant-only VCF from genome or exome sequencing has records near every gene it
#: covers, while a file that does not cover the gene (a panel, a per-chromosome split)
#: has none, and its positions stay missing instead of turning into a "normal" call.
GENE_REGION_MARGIN = 20_000


@dataclass
class KbIndex:
    """The KB loci arranged for lookups by (canonical contig, position)."""

    loci: pd.DataFrame
    canon: list[str]  # canonical contig of each locus
    refs: list[str]
    alts: list[list[str]]
    sites: dict[str, dict[int, list[int]]]  # canon contig -> pos -> locus indices
    sorted_pos: dict[str, list[int]]  # canon contig -> sorted distinct positions
    windows: dict[str, list[tuple[int, int, str]]]  # canon contig -> (start, end, gene) regions
    gene_of: list[str]  # gene of each locus ("" when the loci table has no gene column)
    kb_name: dict[str, str]  # canon contig -> the KB's name of it (chr10)
    shift: normalize.ShiftIndex  # KB indel spans and known reference bases (other forms of an indel)

    @classmethod
    def build(cls, loci: pd.DataFrame) -> "KbIndex":
        loci = loci_frame(loci)
        canon = [canonical_contig(str(c)) for c in loci["chrom"]]
        refs = [str(r).upper() for r in loci["ref"]]
        alts = [split_alts(a) for a in loci["alts"]]
        sites: dict[str, dict[int, list[int]]] = {}
        for j, (c, p) in enumerate(zip(canon, loci["pos"].astype("int64"))):
            sites.setdefault(c, {}).setdefault(int(p), []).append(j)
        sorted_pos = {c: sorted(d) for c, d in sites.items()}
        gene_of = [str(g) for g in loci["gene"]] if "gene" in loci.columns else [""] * len(loci)
        windows: dict[str, list[tuple[int, int, str]]] = {}
        spans: dict[tuple[str, str], list[int]] = {}
        for c, p, g in zip(canon, loci["pos"].astype("int64"), gene_of):
            spans.setdefault((c, g), []).append(int(p))
        for (c, g), ps in sorted(spans.items()):
            windows.setdefault(c, []).append((max(1, min(ps) - GENE_REGION_MARGIN), max(ps) + GENE_REGION_MARGIN, g))
        contexts = [str(x) if isinstance(x, str) else "" for x in loci.get("ref_context", [""] * len(loci))]
        shift = normalize.ShiftIndex.build(canon, [int(p) for p in loci["pos"]], refs, alts, contexts)
        kb_name = {c: str(n) for c, n in zip(canon, loci["chrom"])}
        return cls(loci, canon, refs, alts, sites, sorted_pos, windows, gene_of, kb_name, shift)

    @property
    def n(self) -> int:
        return len(self.refs)

    def covered(self, canon: str, start: int, end: int) -> list[int]:
        """KB positions of ``canon`` within [start, end]."""
        ps = self.sorted_pos.get(canon, [])
        return ps[bisect.bisect_left(ps, start) : bisect.bisect_right(ps, end)]

    def kb_names(self) -> list[str]:
        return sorted(set(self.loci["chrom"].astype(str)))


def loci_frame(loci: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in ("chrom", "pos", "ref", "alts") if c not in loci.columns]
    if missing:
        raise KnowledgeBaseError(f"the loci table lacks column(s) {', '.join(missing)}; pass a KB loci table")
    return loci.reset_index(drop=True)
