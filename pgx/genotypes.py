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
import pyarrow as pa

from pgx.schema import GENOTYPES

#: samples per genotype chunk (reader -> caller), so memory stays flat on large VCFs
DEFAULT_CHUNK_SIZE = 2000

MISSING = -1
HAPLOID = -2
#: GenotypeMatrix.origin of a genotype no input file had a record for
NO_FILE = -1

#: genotype status codes, index into schema.GENOTYPE_STATUSES
STATUS_CALLED = 0
STATUS_MISSING = 1
STATUS_ASSUMED_REFERENCE = 2
STATUS_PARTIAL = 3


@dataclass(frozen=True)
class ReadFinding:
    """Something the reader found about some samples' input for one gene, which their call
    must carry: a record of theirs that could not be used (no GT, a REF that disagrees with
    the knowledge base, two records that contradict each other), or a structural variant
    over the gene. Sample-level detail goes into the calls table this way, never into logs.

    Attributes:
        gene: the gene whose call it concerns.
        samples: bool [n_samples] of the matrix: whom it concerns.
        text: the warning their call carries (it names the file and record, never a sample).
        no_call: the gene cannot be called from the VCF for these samples (a structural
            variant over it: the gene may have one copy, or more, so the SNVs and indels
            alone do not give its diplotype); their call becomes a no-call.
        reason: its code among ``pgx.schema.CALL_REASONS`` (``reason_codes`` of the call).
    """

    gene: str
    samples: np.ndarray
    text: str
    no_call: bool = False
    reason: str = "unusable_record"

    def subset(self, index: slice | np.ndarray) -> "ReadFinding":
        return ReadFinding(self.gene, self.samples[index], self.text, self.no_call, self.reason)


def merge_findings(parts: list[tuple[int, int, list[ReadFinding]]], n_samples: int) -> list[ReadFinding]:
    """Findings of several sample ranges (``(start, stop, findings)``) of one matrix of
    ``n_samples``: one finding per gene, text and effect, its samples the union."""
    merged: dict[tuple[str, str, bool, str], np.ndarray] = {}
    for start, stop, findings in parts:
        for f in findings:
            mask = merged.setdefault((f.gene, f.text, f.no_call, f.reason), np.zeros(n_samples, dtype=bool))
            mask[start:stop] |= f.samples
    return [ReadFinding(g, mask, text, no_call, reason) for (g, text, no_call, reason), mask in merged.items()]


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
        files: the input VCFs, as the user named them, in input order.
        origin: int [n_samples, n_loci]: index into ``files`` of the file whose record gave
            the genotype; ``NO_FILE`` (-1) when no file had a record for the sample there
            (missing or assumed reference). All ``NO_FILE`` when not given.
        warnings: free-text warnings about the read (symbolic ALTs skipped, ...); they
            name files and records and count samples, but never name one.
        findings: :class:`ReadFinding` s: per-sample, per-gene notes for the calls.
    """

    samples: list[str]
    loci: pd.DataFrame
    codes: np.ndarray
    phased: np.ndarray
    phase_set: np.ndarray
    status: np.ndarray
    novel_alleles: dict[tuple[int, int], str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    origin: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)
    findings: list[ReadFinding] = field(default_factory=list)

    def __post_init__(self) -> None:
        n_s, n_l = len(self.samples), len(self.loci)
        if self.codes.shape != (n_s, n_l, 2):
            raise ValueError(f"codes has shape {self.codes.shape}, expected {(n_s, n_l, 2)}")
        if self.origin is None:
            self.origin = np.full((n_s, n_l), NO_FILE, dtype=origin_dtype(len(self.files)))
        if self.origin.shape != (n_s, n_l):
            raise ValueError(f"origin has shape {self.origin.shape}, expected {(n_s, n_l)}")

    def describe_variant(self, locus_index: int, codes) -> str:
        """``chr10:94761900:C>G``: the non-reference allele(s) among ``codes`` at one locus."""
        loci = self.loci
        alts = sorted({self.allele_sequence(locus_index, int(c)) for c in codes if c > 0})
        where = f"{loci['chrom'].iat[locus_index]}:{int(loci['pos'].iat[locus_index])}:{loci['ref'].iat[locus_index]}"
        return f"{where}>{','.join(a or '?' for a in alts)}"

    def allele_sequence(self, locus_index: int, code: int) -> str | None:
        """The VCF allele sequence for ``code`` at locus ``locus_index`` (None if missing)."""
        if code < 0:
            return None
        if code == 0:
            return self.loci["ref"].iat[locus_index]
        alts = [a for a in str(self.loci["alts"].iat[locus_index]).split(",") if a]
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
            files=self.files,
            origin=self.origin[index],
            warnings=self.warnings,
            findings=[f.subset(index) for f in self.findings],
        )

    def read_findings(self) -> list[tuple[str, str, str, bool, str]]:
        """(sample_id, gene, text, no_call, reason) for every sample each finding concerns."""
        return [(self.samples[s], f.gene, f.text, f.no_call, f.reason) for f in self.findings for s in np.flatnonzero(f.samples)]


def origin_dtype(n_files: int) -> type[np.signedinteger]:
    """The smallest signed integer type that indexes ``n_files`` files (and holds ``NO_FILE``)."""
    return np.int16 if n_files <= np.iinfo(np.int16).max else np.int32


def renumber_origin(origin: np.ndarray, new_index: list[int], n_files: int) -> np.ndarray:
    """``origin`` with each index ``i`` replaced by ``new_index[i]`` (an index among
    ``n_files`` files); ``NO_FILE`` stays ``NO_FILE``."""
    lookup = np.array([*new_index, NO_FILE], dtype=origin_dtype(n_files))
    return lookup[origin]  # NO_FILE (-1) reads the last entry, NO_FILE


#: rows per chunk when :func:`genotype_table` materialises string columns (Arrow string
#: offsets are int32: a long string repeated on millions of rows would overflow one array)
TABLE_SLICE_ROWS = 1 << 20


def genotype_table(gm: GenotypeMatrix, kb_version: str, status_names: tuple[str, ...], *, compact: bool = False) -> pa.Table:
    """The ``genotypes`` output table as Arrow: one row per sample x KB position, sample-major.

    Built from the numpy arrays without a Python loop over cells. ``alleles`` is null
    when both alleles are missing, otherwise one VCF sequence per haplotype (a haploid
    genotype has one), a missing allele being a null element; ``status`` is a
    dictionary array over ``status_names`` (the codes are its indices, so every chunk
    has the same dictionary); an empty rsid and a phase set of 0 are null.

    With ``compact=False`` the columns have exactly the types of ``pgx.schema.GENOTYPES``.
    With ``compact=True`` the string columns that repeat a few values (sample_id, gene,
    chrom, rsid, ref, source_file, kb_version) stay dictionary-encoded: a few bytes per
    row instead of the string. ``source_file`` is ``gm.files`` indexed by ``gm.origin``:
    the input file the row's genotype was read from, null when none had a record. Casting
    a compact table to the schema gives the exact table; :class:`pgx.outputs.ChunkedTableWriter`
    does that slice by slice.
    """
    n_s, n_l = gm.codes.shape[:2]
    loci = gm.loci.reset_index(drop=True)
    strings, lut = _allele_lookup(gm, loci)
    ps = gm.phase_set.reshape(-1)
    columns = {
        "sample_id": _repeat_each([str(s) for s in gm.samples], n_l),
        "gene": _tile(_texts(loci["gene"]), n_s),
        "chrom": _tile(_texts(loci["chrom"]), n_s),
        "pos": pa.array(np.tile(loci["pos"].to_numpy(dtype=np.int64), n_s), type=pa.int64()),
        "rsid": _tile(_texts(loci["rsid"], empty_is_null=True), n_s),
        "ref": _tile(_texts(loci["ref"]), n_s),
        "alleles": _alleles_array(gm.codes.reshape(n_s * n_l, 2), np.tile(np.arange(n_l), n_s), strings, lut),
        "phased": pa.array(gm.phased.reshape(-1), type=pa.bool_()),
        "phase_set": pa.array(ps, type=pa.int64(), mask=ps <= 0),
        "status": pa.DictionaryArray.from_arrays(
            pa.array(gm.status.reshape(-1), type=pa.int8()), pa.array(list(status_names), type=pa.string())
        ),
        "source_file": _encoded(gm.origin.reshape(-1), pa.array(gm.files, type=pa.string())),
        "kb_version": _tile([kb_version], n_s * n_l),
    }
    if compact:
        return pa.table([columns[f.name] for f in GENOTYPES], names=GENOTYPES.names)
    arrays = [_cast_in_slices(columns[f.name], f.type) for f in GENOTYPES]
    return pa.Table.from_arrays(arrays, schema=GENOTYPES)


def genotype_frame(gm: GenotypeMatrix, kb_version: str, status_names: tuple[str, ...]) -> pd.DataFrame:
    """The ``genotypes`` output table as a DataFrame (``genotype_table(..., compact=True)``).

    Columns are Arrow-backed (``pd.ArrowDtype``), the repeated string columns
    dictionary-encoded, so the frame costs a few bytes per row and ``pgx.outputs``
    writes it without converting a value (it casts to the declared schema slice by
    slice). Missing values are ``<NA>``; alleles is a list.
    """
    return genotype_table(gm, kb_version, status_names, compact=True).to_pandas(types_mapper=pd.ArrowDtype)


def _texts(col: pd.Series, empty_is_null: bool = False) -> list[str | None]:
    out: list[str | None] = []
    for v in col.tolist():
        missing = v is None or v is pd.NA or (isinstance(v, float) and v != v)
        out.append(None if missing or (empty_is_null and v == "") else str(v))
    return out


def _dictionary(values: list[str | None]) -> tuple[np.ndarray, pa.Array]:
    """(index of each value among the distinct non-null values, -1 for null; those values).

    The indices have the smallest integer type that holds them, so repeating them per
    row stays cheap.
    """
    distinct: dict[str, int] = {}
    codes = [-1 if v is None else distinct.setdefault(v, len(distinct)) for v in values]
    index_type = next(t for t in (np.int8, np.int16, np.int32) if len(distinct) <= np.iinfo(t).max)
    return np.array(codes, dtype=index_type), pa.array(list(distinct), type=pa.string())


def _encoded(codes: np.ndarray, dictionary: pa.Array) -> pa.DictionaryArray:
    mask = codes < 0
    return pa.DictionaryArray.from_arrays(pa.array(codes, mask=mask if mask.any() else None), dictionary)


def _tile(values: list[str | None], reps: int) -> pa.DictionaryArray:
    """``values`` repeated ``reps`` times, dictionary-encoded."""
    codes, dictionary = _dictionary(values)
    return _encoded(np.tile(codes, reps), dictionary)


def _repeat_each(values: list[str | None], reps: int) -> pa.DictionaryArray:
    """Each of ``values`` ``reps`` times in a row, dictionary-encoded."""
    codes, dictionary = _dictionary(values)
    return _encoded(np.repeat(codes, reps), dictionary)


def _cast_in_slices(arr: pa.Array, type_: pa.DataType) -> pa.Array | pa.ChunkedArray:
    if arr.type.equals(type_):
        return arr
    if len(arr) <= TABLE_SLICE_ROWS:
        return arr.cast(type_)
    return pa.chunked_array(
        [arr.slice(i, TABLE_SLICE_ROWS).cast(type_) for i in range(0, len(arr), TABLE_SLICE_ROWS)], type=type_
    )


def _allele_lookup(gm: GenotypeMatrix, loci: pd.DataFrame) -> tuple[pa.Array, np.ndarray]:
    """Distinct allele sequences and lut[locus, code] -> their index (-1: none).

    Same sequences as :meth:`GenotypeMatrix.allele_sequence`, for every code up to the
    highest one present at the locus.
    """
    n_l = len(loci)
    top = gm.codes.max(axis=(0, 2), initial=0) if gm.codes.size else np.zeros(n_l, dtype=np.int64)
    lut = np.full((n_l, int(top.max(initial=0)) + 1), -1, dtype=np.int32)
    index: dict[str, int] = {}
    for j, (ref, alts) in enumerate(zip(loci["ref"].tolist(), loci["alts"].tolist())):
        listed = [a for a in str(alts).split(",") if a]
        for code in range(int(top[j]) + 1):
            if code == 0:
                seq = ref
            elif code <= len(listed):
                seq = listed[code - 1]
            else:
                seq = gm.novel_alleles.get((j, code), "?")
            lut[j, code] = index.setdefault(seq, len(index))
    return pa.array(list(index), type=pa.string()), lut


def _alleles_array(codes: np.ndarray, locus: np.ndarray, strings: pa.Array, lut: np.ndarray) -> pa.ListArray:
    """list<string> per row from allele codes [rows, 2] at locus indices [rows]."""
    null_row = (codes[:, 0] == MISSING) & ((codes[:, 1] == MISSING) | (codes[:, 1] == HAPLOID))
    keep = (codes != HAPLOID) & ~null_row[:, None]
    offsets = np.zeros(len(codes) + 1, dtype=np.int32)
    np.cumsum(keep.sum(axis=1, dtype=np.int32), out=offsets[1:])
    elem = codes[keep]
    elem_locus = np.broadcast_to(locus[:, None], codes.shape)[keep]
    ids = lut[elem_locus, np.clip(elem, 0, None)]
    values = pa.DictionaryArray.from_arrays(pa.array(ids, type=pa.int32(), mask=elem < 0), strings).cast(pa.string())
    return pa.ListArray.from_arrays(pa.array(offsets, type=pa.int32()), values, mask=pa.array(null_row))


def input_warnings(n_positions: int, assumed: list[int], partial: list[int], novel: list[str]) -> list[str]:
    """The notes every call carries about its input: positions filled by
    ``--assume-reference``, partial genotypes treated as missing, variants no allele has."""
    out = []
    if assumed:
        out.append(f"{len(assumed)} of {n_positions} positions absent from the input were assumed reference (--assume-reference)")
    if partial:
        out.append(f"partial genotypes treated as missing at {', '.join(map(str, partial))}")
    if novel:
        out.append("variant(s) that no known allele contains: " + ", ".join(novel))
    return out


def unique_rows(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index of the first occurrence of each distinct row, row -> distinct-row number).

    Rows are hashed as bytes, not sorted: much faster than ``np.unique(axis=0)`` on the
    wide int16 rows of genes with hundreds of positions.
    """
    a = np.ascontiguousarray(a)
    seen: dict[bytes, int] = {}
    first: list[int] = []
    inverse = np.empty(len(a), dtype=np.int64)
    for i, row in enumerate(a):
        k = row.tobytes()
        j = seen.get(k)
        if j is None:
            j = seen[k] = len(first)
            first.append(i)
        inverse[i] = j
    return np.asarray(first, dtype=np.int64), inverse
