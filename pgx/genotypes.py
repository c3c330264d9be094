"""The in-memory genotype matrix passed from the reader (``vcf``) to the matcher (``match``).

Genotypes become small integer arrays, samples x KB positions x 2 haplotypes, so that
matching is vectorised over samples. Allele codes are per position:

* ``0``: the reference allele of the KB locus,
* ``1 .. len(alts)``: the KB locus's ALT alleles, in the order of ``loci.alts``,
* ``len(alts)+1 ..``: alleles seen in the VCF that the KB does not list at that
  position (possible novel alleles); their sequences are kept in ``novel_alleles``,
* ``MISSING`` (-1): no genotype (position absent, ``.`` allele).

Haploid genotypes (chrX in males, chrM) have ``HAPLOID`` (-2) in the second slot.
Everything here is 1-based, chromosome names are the KB's (``chr``-prefixed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

MISSING = -1
HAPLOID = -2

#: genotype status codes, index into schema.GENOTYPE_STATUSES
STATUS_CALLED = 0
STATUS_MISSING = 1
STATUS_ASSUMED_REFERENCE = 2
STATUS_PARTIAL = 3


@dataclass
class GenotypeMatrix:
    """Genotypes of ``samples`` at the KB ``loci`` (rows of the KB loci table, in order).

    Attributes:
        samples: sample IDs, in VCF column order (after any merge across files).
        loci: KB loci rows (gene, chrom, pos, ref, alts, rsid, role, ...), one per column.
        codes: int16 array [n_samples, n_loci, 2] of allele codes (see module doc).
        phased: bool array [n_samples, n_loci]; True when the VCF GT used ``|``.
        phase_set: int64 array [n_samples, n_loci]; FORMAT/PS, 0 when absent.
        status: int8 array [n_samples, n_loci] of STATUS_* codes.
        novel_alleles: {(locus_index, code): allele sequence} for codes beyond the KB alts.
        source_files: {sample_id: path of the VCF it was read from}.
        warnings: free-text warnings about the read (symbolic ALTs skipped, ...).
    """

    samples: list[str]
    loci: pd.DataFrame
    codes: np.ndarray
    phased: np.ndarray
    phase_set: np.ndarray
    status: np.ndarray
    novel_alleles: dict[tuple[int, int], str] = field(default_factory=dict)
    source_files: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        n_s, n_l = len(self.samples), len(self.loci)
        if self.codes.shape != (n_s, n_l, 2):
            raise ValueError(f"codes has shape {self.codes.shape}, expected {(n_s, n_l, 2)}")

    def allele_sequence(self, locus_index: int, code: int) -> str | None:
        """The VCF allele sequence for ``code`` at locus ``locus_index`` (None if missing)."""
        if code < 0:
            return None
        row = self.loci.iloc[locus_index]
        if code == 0:
            return row["ref"]
        alts = [a for a in str(row["alts"]).split(",") if a]
        if code <= len(alts):
            return alts[code - 1]
        return self.novel_alleles.get((locus_index, code), "?")

    def gene_columns(self, gene: str) -> np.ndarray:
        """Column indices of ``gene``'s loci."""
        return np.flatnonzero(self.loci["gene"].to_numpy() == gene)

    def subset_samples(self, index: slice | np.ndarray) -> "GenotypeMatrix":
        """A view on some samples (used for sample chunks)."""
        samples = list(np.asarray(self.samples, dtype=object)[index])
        return GenotypeMatrix(
            samples=samples,
            loci=self.loci,
            codes=self.codes[index],
            phased=self.phased[index],
            phase_set=self.phase_set[index],
            status=self.status[index],
            novel_alleles=self.novel_alleles,
            source_files={s: self.source_files.get(s, "") for s in samples},
            warnings=self.warnings,
        )


def genotype_frame(gm: GenotypeMatrix, kb_version: str, status_names: tuple[str, ...]) -> pd.DataFrame:
    """The ``genotypes`` output table: one row per sample x KB position, sample-major."""
    n_s, n_l = gm.codes.shape[:2]
    loci = gm.loci.reset_index(drop=True)
    seqs = [
        {code: gm.allele_sequence(j, code) for code in np.unique(gm.codes[:, j, :]) if code >= 0}
        for j in range(n_l)
    ]
    alleles = []
    for s in range(n_s):
        for j in range(n_l):
            pair = gm.codes[s, j]
            if pair[0] == MISSING and pair[1] in (MISSING, HAPLOID):
                alleles.append(None)
                continue
            alleles.append([seqs[j].get(int(c)) if c >= 0 else None for c in pair if c != HAPLOID])
    status = np.asarray(status_names, dtype=object)[gm.status.reshape(-1)]
    return pd.DataFrame(
        {
            "sample_id": np.repeat(np.asarray(gm.samples, dtype=object), n_l),
            "gene": np.tile(loci["gene"].to_numpy(dtype=object), n_s),
            "chrom": np.tile(loci["chrom"].to_numpy(dtype=object), n_s),
            "pos": np.tile(loci["pos"].to_numpy(dtype=np.int64), n_s),
            "rsid": np.tile(loci["rsid"].replace("", None).to_numpy(dtype=object), n_s),
            "ref": np.tile(loci["ref"].to_numpy(dtype=object), n_s),
            "alleles": alleles,
            "phased": gm.phased.reshape(-1),
            "phase_set": np.where(gm.phase_set.reshape(-1) > 0, gm.phase_set.reshape(-1), None),
            "status": status,
            "source_file": np.repeat(np.asarray([gm.source_files.get(s, "") for s in gm.samples], dtype=object), n_l),
            "kb_version": kb_version,
        }
    )
