"""Step 2 of a read: parse the extracted VCF once with cyvcf2 and map every record's
genotypes to KB allele codes (novel alleles, indels in another form, structural
variants, several records at one locus), one lookup table per record
(see :mod:`pgx.vcf`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pgx import normalize
from pgx.builds import GRCH37, canonical_contig
from pgx.errors import VcfError
from pgx.genotypes import (
    HAPLOID,
    MISSING,
    STATUS_CALLED,
    STATUS_MISSING,
    STATUS_PARTIAL,
    ReadFinding,
)
from pgx.vcf.records import has_sv_allele, is_ref_block, is_sv_allele, is_symbolic, ref_agrees, sv_span
from pgx.vcf.kb_index import KbIndex
from pgx.vcf.inspection import VcfFile


class NovelAlleles:
    """Codes for alleles the KB does not list, shared by every file and chunk of a read."""

    def __init__(self, kbi: KbIndex):
        self.kbi = kbi
        self.codes: dict[tuple[int, str], int] = {}
        self.next: dict[int, int] = {}

    def code(self, j: int, seq: str) -> int:
        key = (j, seq)
        if key not in self.codes:
            code = self.next.get(j, len(self.kbi.alts[j]) + 1)
            self.codes[key] = code
            self.next[j] = code + 1
        return self.codes[key]

    def table(self) -> dict[tuple[int, int], str]:
        return {(j, code): seq for (j, seq), code in self.codes.items()}


def _in_kb_frame(rec_ref: str, allele: str, kb_ref: str) -> str | None:
    """``allele`` of a record with REF ``rec_ref`` rewritten over the KB REF's span, or None."""
    if len(rec_ref) <= len(kb_ref):
        return allele + kb_ref[len(rec_ref) :]
    tail = rec_ref[len(kb_ref) :]
    if allele.endswith(tail) and len(allele) > len(tail):
        return allele[: len(allele) - len(tail)]
    return None


def _allele_codes(kbi: KbIndex, novel: NovelAlleles, j: int, rec_ref: str, rec_alts: list[str]) -> list[int]:
    """KB code of each allele of a record at locus ``j``'s POS (index = VCF allele index)."""
    kb_ref = kbi.refs[j]
    known = {seq: code for code, seq in enumerate([kb_ref, *kbi.alts[j]])}
    codes = []
    for allele in [rec_ref, *rec_alts]:
        allele = allele.upper()
        if is_symbolic(allele):
            codes.append(MISSING)
        elif allele == "*":
            codes.append(novel.code(j, "*"))
        else:
            seq = _in_kb_frame(rec_ref, allele, kb_ref)
            if seq is None:
                codes.append(novel.code(j, f"{rec_ref}>{allele}"))
            else:
                codes.append(known[seq] if seq in known else novel.code(j, seq))
    return codes


@dataclass
class FilePart:
    """One file's genotypes for one chunk of samples, before the union across files."""

    vf: VcfFile
    samples: list[str]
    cols: np.ndarray  # int64 [P]: the KB loci a record of this file concerns, ascending
    codes: np.ndarray  # int16 [n, P, 2]
    phased: np.ndarray  # bool [n, P]
    phase_set: np.ndarray  # int64 [n, P]
    status: np.ndarray  # int8 [n, P]
    warnings: list[str]
    findings: list[ReadFinding]  # over this part's samples


@dataclass
class _Note:
    """What decoding one record found: for the log (``what``, prefixed by a sample count
    when it concerns only some samples) and for the calls of the samples it concerns
    (``per_sample``, a :class:`pgx.genotypes.ReadFinding` on the genes of ``cols``)."""

    who: np.ndarray | None  # bool [N] over the file's samples read; None: all of them
    where: str  # file: CHROM:POS of the record
    what: str
    per_sample: str
    cols: list[int]  # the KB loci it concerns
    no_call: bool = False
    reason: str = "unusable_record"  # a key of pgx.schema.CALL_REASONS


@dataclass
class DecodedFile:
    """One file's genotypes, decoded once for every sample read from it, at the KB loci
    its records concern (3 bytes per sample and locus, 7 with phase sets): chunks slice
    it, so no record is parsed twice however many chunks there are."""

    vf: VcfFile
    samples: list[str]  # the file's samples that are read, in file order
    cols: np.ndarray  # int64 [P]: KB locus indices, ascending
    codes: np.ndarray  # int8 [N, P, 2] (int16 if a code does not fit)
    phased: np.ndarray  # bool [N, P]
    phase_set: np.ndarray | None  # int32 [N, P] (VCF integers); None when no record has a phase set
    notes: list[_Note]
    conflicts: dict[int, np.ndarray]  # locus -> bool [N]: different non-reference alleles on two records

    def part(self, rows: np.ndarray, kbi: KbIndex) -> FilePart:
        """The genotypes of the samples at ``rows`` (ascending indices into ``samples``)."""
        codes = self.codes[rows].astype(np.int16)
        n, n_cols = codes.shape[:2]
        ps = np.zeros((n, n_cols), dtype=np.int64) if self.phase_set is None else self.phase_set[rows].astype(np.int64)
        samples = [self.samples[i] for i in rows]
        notes = list(self.notes)
        for j, who in sorted(self.conflicts.items()):
            notes.append(
                _Note(
                    who,
                    f"{self.vf.name}: {kbi.loci['chrom'].iat[j]}:{kbi.loci['pos'].iat[j]}",
                    "sample(s) have different non-reference alleles on two records at this position; kept the "
                    "first record's allele",
                    "two records give different non-reference alleles at this position; the first record's was kept",
                    [j],
                )
            )
        warnings, findings = [], []
        for note in notes:
            who = np.ones(len(rows), dtype=bool) if note.who is None else note.who[rows]
            if not who.any():
                continue
            # the log counts samples; the calls of the samples concerned carry the detail
            warnings.append(f"{note.where}: {note.what}" if note.who is None else f"{note.where}: {int(who.sum())} {note.what}")
            for gene in sorted({kbi.gene_of[j] for j in note.cols}):
                findings.append(ReadFinding(gene, who, f"{note.where}: {note.per_sample}", note.no_call, note.reason))
        return FilePart(self.vf, samples, self.cols, codes, self.phased[rows], ps, _status(codes), warnings, findings)


def decode_file(vf: VcfFile, kbi: KbIndex, novel: NovelAlleles, samples: list[str]) -> DecodedFile:
    """Parse a file's extracted records once, for ``samples`` (in file order)."""
    import cyvcf2

    subset = None if len(samples) == len(vf.samples) else samples
    try:
        reader = cyvcf2.VCF(str(vf.extracted), samples=subset, lazy=True)
    except Exception as exc:  # noqa: BLE001 - cyvcf2 raises a bare Exception for a header htslib rejects
        raise VcfError(
            f"{vf.name}: htslib cannot parse the header ({exc}); check its ## lines and the #CHROM line "
            "(bcftools view -h shows how htslib reads it), fix them and run again"
        ) from None
    n = len(samples)
    state = _FileState(kbi, novel, vf.name, n, vf.read_build == GRCH37)
    try:
        if reader.samples != samples:  # cyvcf2 keeps file order, as ``samples`` has it
            raise RuntimeError(f"{vf.name}: cyvcf2 returned the samples in another order than the file's")
        records = iter(reader)
        k = 0
        while True:
            try:
                rec = next(records)
            except StopIteration:
                break
            except Exception as exc:  # htslib could not parse the record (cyvcf2 raises a bare Exception)
                raise VcfError(_unparsable(vf, k, exc)) from None
            _decode_record(rec, state)
            k += 1
    finally:
        reader.close()
    loci = state.loci
    cols = np.array(sorted(loci), dtype=np.int64)
    columns = [loci[j] for j in cols.tolist()]
    codes = np.stack([c[0] for c in columns], axis=1) if columns else np.zeros((n, 0, 2), dtype=np.int16)
    if codes.size == 0 or codes.max() <= np.iinfo(np.int8).max:  # codes are small: store them in a byte
        codes = codes.astype(np.int8)
    phased = np.stack([c[1] for c in columns], axis=1) if columns else np.zeros((n, 0), dtype=bool)
    has_ps = any(c[2].any() for c in columns)
    phase_set = np.stack([c[2].astype(np.int32) for c in columns], axis=1) if has_ps else None
    return DecodedFile(vf, samples, cols, codes, phased, phase_set, state.notes, state.conflicts)


def _unparsable(vf: VcfFile, k: int, exc: Exception) -> str:
    """The message for the ``k``-th extracted record (0-based) that htslib cannot parse."""
    with open(vf.extracted, "rb") as fh:
        lines = (line for line in fh if not line.startswith(b"#"))
        line = next((x for i, x in enumerate(lines) if i == k), b"")
    chrom, _, rest = line.decode("utf-8", "replace").partition("\t")
    where = f"the record at {chrom}:{rest.partition(chr(9))[0]}" if line else "a record"
    return (
        f"{vf.name}: {where} cannot be parsed ({exc}); its GT or other FORMAT values are malformed "
        "(e.g. a GT that is not numbers separated by / or |). Fix or remove the record, then run again "
        "(bcftools view shows it)"
    )


@dataclass
class _FileState:
    """One file's decoding so far: the KB, the file, and what its records gave until now."""

    kbi: KbIndex
    novel: NovelAlleles
    name: str  # the file, for messages
    n: int  # samples read
    grch37: bool  # the file is on GRCh37 (REF checks, pgx.vcf.records.ref_agrees)
    #: locus -> codes, phased, phase_set
    loci: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)
    notes: list[_Note] = field(default_factory=list)
    #: locus -> bool [n]: samples with different non-reference alleles on two records
    conflicts: dict[int, np.ndarray] = field(default_factory=dict)
    #: locus -> KB codes the records read so far can write
    expressed: dict[int, set[int]] = field(default_factory=dict)


def _decode_record(rec, state: _FileState) -> None:
    """Map one record's genotypes to KB codes and merge them into ``state.loci``; a
    structural variant over KB positions becomes a note on the genes it overlaps."""
    kbi, novel, n, loci, notes, conflicts, expressed = (
        state.kbi,
        state.novel,
        state.n,
        state.loci,
        state.notes,
        state.conflicts,
        state.expressed,
    )
    canon = canonical_contig(rec.CHROM)
    pos = rec.POS
    alts = list(rec.ALT)
    by_pos = kbi.sites.get(canon, {})
    targets: list[tuple[int, bool]] = []  # (locus, record starts there)
    if is_ref_block(alts) and rec.end > pos:
        targets = [(j, p == pos) for p in kbi.covered(canon, pos, rec.end) for j in by_pos[p]]
    else:
        targets = [(j, True) for j in by_pos.get(pos, [])]
    shifted = _shifted_codes(kbi, novel, canon, pos, rec.REF, alts) if not has_sv_allele(alts) else {}
    sv_cols = _sv_loci(kbi, canon, pos, rec.REF, alts, rec.INFO.get("END"), rec.INFO.get("SVLEN"))
    if not targets and not shifted and not sv_cols:
        return
    try:
        gt = rec.genotype
    except Exception:  # cyvcf2 raises a bare Exception for a record whose FORMAT lacks GT
        gt = None
    where = f"{state.name}: {rec.CHROM}:{pos}"
    cols = sorted({j for j, _ in targets} | set(shifted))
    if gt is None:
        notes.append(_Note(None, where, "the record has no GT; its genotypes are missing",
                           "the record has no GT, so the genotype there is missing", cols or sv_cols))  # fmt: skip
        alleles = np.full((n, 2), -1, dtype=np.int16)
        rec_phased = np.zeros(n, dtype=bool)
    else:
        arr = gt.array()
        alleles, rec_phased = arr[:, :-1], arr[:, -1].astype(bool)
    if alleles.shape[1] > 2:
        poly = (alleles[:, 2:] != HAPLOID).any(axis=1)
        if poly.any():
            notes.append(_Note(poly, where, "genotype(s) with more than two alleles set to missing",
                               "a genotype with more than two alleles was set to missing", cols))  # fmt: skip
        alleles = alleles[:, :2].copy()
        alleles[poly] = -1
    elif alleles.shape[1] == 1:
        alleles = np.concatenate([alleles, np.full((n, 1), HAPLOID, dtype=alleles.dtype)], axis=1)
    beyond = (alleles > len(alts)).any(axis=1)
    if beyond.any():
        notes.append(_Note(beyond, where, f"genotype(s) naming an allele the record does not have (it has {len(alts)} ALT) set to missing",
                           "the genotype names an allele the record does not have; set to missing", cols))  # fmt: skip
        alleles = alleles.copy()
        alleles[beyond] = -1
    if sv_cols:
        notes.extend(_sv_notes(rec, alts, alleles, where, sv_cols, kbi))
    ps = _phase_sets(rec, n)
    for j, starts_here in [*targets, *((j, None) for j in shifted)]:
        if starts_here and not ref_agrees(rec.REF.upper(), kbi.refs[j], kbi.alts[j], state.grch37):
            # not the KB's reference here (README: such a record is not matched): missing
            amap = [MISSING] * (len(alts) + 1)
            notes.append(_Note(None, where, f"REF {rec.REF} disagrees with the knowledge base's {kbi.refs[j]}; "
                               "the record is not used, its genotypes are missing",
                               f"REF {rec.REF} disagrees with the knowledge base's {kbi.refs[j]}, so the record was "
                               "not used and the position is missing; check the genome build and the record", [j]))  # fmt: skip
        elif starts_here:
            amap = _allele_codes(kbi, novel, j, rec.REF.upper(), alts)
        elif starts_here is None:  # another form of the KB indel at j (pgx.normalize)
            amap = shifted[j]
        else:  # inside a reference block: its REF base is the KB position's reference
            amap = [0] + [MISSING] * len(alts)
        new = _map_alleles(alleles, amap)
        new_phased = rec_phased.copy()
        new_phased[new[:, 1] == HAPLOID] = True
        new_phased[(new == MISSING).all(axis=1)] = False
        if j in loci:
            if starts_here is None:
                twice = _keep_first_of_repeats(*loci[j][:2], new, new_phased)
                if twice.any():
                    locus = f"{kbi.loci['chrom'].iat[j]}:{kbi.loci['pos'].iat[j]}"
                    notes.append(_Note(twice, where, _WRITTEN_TWICE.format(locus=locus),
                                       f"the KB indel at {locus} is written on this record and on another one at "
                                       "another position; counted once", [j]))  # fmt: skip
            written = _written_codes(amap) if starts_here else set()  # shifted forms: see _keep_first_of_repeats
            disagree = _other_dosage(loci[j][0], new, expressed.get(j, set()) & written)
            if disagree.any():  # the same allele on two records in different numbers: neither is trusted
                loci[j][0][disagree] = MISSING
                new[disagree] = MISSING
                notes.append(_Note(disagree, where, _OTHER_DOSAGE,
                                   "two records at this position give the same allele in different numbers of "
                                   "copies; the genotype there is set to missing", [j]))  # fmt: skip
            conflict = _merge_into(*loci[j], new, new_phased, ps)
            if conflict.any():
                conflicts[j] = conflicts.get(j, np.zeros(n, dtype=bool)) | conflict
        else:
            loci[j] = (new, new_phased, ps.copy())
        if starts_here:
            expressed[j] = expressed.get(j, set()) | _written_codes(amap)


_OTHER_DOSAGE = (
    "sample(s) have an allele of this record in another number of copies on an earlier record at the same "
    "position (a duplicated record that disagrees); their genotype there is set to missing"
)


def _sv_loci(kbi: KbIndex, canon: str, pos: int, ref: str, alts: list[str], end: object, svlen: object) -> list[int]:
    """KB loci inside the span of a structural-variant record (none for other records)."""
    if not has_sv_allele(alts) or canon not in kbi.sites:
        return []
    start, stop = sv_span(pos, ref, end, svlen)
    return [j for p in kbi.covered(canon, start, stop) for j in kbi.sites[canon][p]]


def _sv_notes(rec, alts: list[str], alleles: np.ndarray, where: str, cols: list[int], kbi: KbIndex) -> list[_Note]:
    """Notes of a structural variant over KB positions: its carriers cannot be called from
    the SNVs and indels (no-call), and samples with no genotype for it get a warning.

    A sample carries it when its GT names a structural-variant ALT or, with no GT, when
    FORMAT/CN says a copy number other than 2."""
    sv_index = [i + 1 for i, a in enumerate(alts) if is_sv_allele(a)]
    carrier = np.isin(alleles, sv_index).any(axis=1)
    unknown = ~carrier & (alleles < 0).all(axis=1)
    copies = _copy_numbers(rec, len(alleles))
    if copies is not None:
        known = unknown & (copies >= 0)
        carrier |= known & (copies != 2)
        unknown &= ~known
    start, stop = sv_span(rec.POS, rec.REF, rec.INFO.get("END"), rec.INFO.get("SVLEN"))
    kind = "/".join(a for a in alts if is_sv_allele(a))
    span = f"{kbi.loci['chrom'].iat[cols[0]]}:{start}-{stop}"
    genes = ", ".join(sorted({kbi.gene_of[j] for j in cols}))
    return [
        _Note(
            carrier,
            where,
            f"sample(s) carry the structural variant {kind} over {span} ({genes}); those genes are not called for them",
            f"structural variant {kind} over {span} in this sample: the gene may have one copy, or more, so its "
            "SNVs and indels cannot give the diplotype; not called. Confirm the copy number with a dedicated "
            "assay and give the result as an outside call (--outside-calls)",
            cols,
            no_call=True,
            reason="structural_variant",
        ),
        _Note(
            unknown,
            where,
            f"sample(s) have no genotype for the structural variant {kind} over {span} ({genes})",
            f"a structural variant {kind} over {span} is in the input, and this sample has no genotype for it: "
            "whether the gene has two copies is not known",
            cols,
            reason="structural_variant_unknown",
        ),
    ]


def _copy_numbers(rec, n: int) -> np.ndarray | None:
    """FORMAT/CN per sample (-1 when missing), or None when the record has none."""
    try:
        raw = rec.format("CN")
    except Exception:  # cyvcf2 raises for a field of an unexpected type
        return None
    if raw is None or raw.dtype.kind not in "iuf":
        return None
    cn = raw[:, 0]
    out = (
        np.where(np.isfinite(cn) & (cn >= 0) & (cn < 1 << 20), cn, -1)
        if raw.dtype.kind == "f"
        else np.where((cn >= 0) & (cn < 1 << 20), cn, -1)
    )
    return out.astype(np.int64)


def _written_codes(amap: list[int]) -> set[int]:
    """The non-reference KB codes a record can write at a locus."""
    return {c for c in amap[1:] if c > 0}


def _other_dosage(cur: np.ndarray, new: np.ndarray, shared: set[int]) -> np.ndarray:
    """Samples whose two records, both able to write an allele (``shared``), give it a
    different number of copies (a duplicated record that disagrees; split multi-allelic
    records each write their own ALT, so they never share one). Missing genotypes: no."""
    if not shared:
        return np.zeros(len(cur), dtype=bool)
    called = (cur != MISSING).all(axis=1) & (new != MISSING).all(axis=1)
    differs = np.zeros(len(cur), dtype=bool)
    for c in shared:
        differs |= (cur == c).sum(axis=1) != (new == c).sum(axis=1)
    return called & differs


def _shifted_codes(kbi: KbIndex, novel: NovelAlleles, canon: str, pos: int, ref: str, alts: list[str]) -> dict[int, list[int]]:
    """KB codes of a record's alleles at each KB indel it is another form of (locus -> codes).

    REF and ALTs that are different variants -> 0; an ALT equal to a KB allele -> its code;
    another allele of the locus -> a novel code; undecidable or conflicting -> MISSING.
    """
    placement = kbi.shift.place(canon, pos, ref, alts)
    if placement is None:
        return {}
    out = {}
    for j, outcomes in placement.loci.items():
        codes = []
        for o in outcomes:
            if o[0] == normalize.AT:
                codes.append(_allele_codes(kbi, novel, j, o[1], [o[2]])[1])
            else:
                codes.append(MISSING if o[0] == normalize.UNRESOLVED else 0)
        out[j] = codes
    return out


_WRITTEN_TWICE = (
    "sample(s) carry the KB indel at {locus} on this record and on another one written at another position; "
    "one variant written twice counts once (the first record's genotype is kept)"
)


def _keep_first_of_repeats(cur, cur_phased, new, new_phased) -> np.ndarray:
    """Samples carrying the same KB allele on an exact and a shifted record have one variant
    written twice: the record read first stands for it (``new`` is made equal to it).
    Returns those samples (bool [N])."""
    same = ((new[:, :, None] > 0) & (new[:, :, None] == cur[:, None, :])).any(axis=(1, 2))
    new[same] = cur[same]
    new_phased[same] = cur_phased[same]
    return same


def _phase_sets(rec, n: int) -> np.ndarray:
    try:
        raw = rec.format("PS")
    except Exception:  # cyvcf2 raises when PS has an unexpected type
        raw = None
    if raw is None or raw.dtype.kind not in "iu":
        return np.zeros(n, dtype=np.int64)
    ps = raw[:, 0].astype(np.int64)
    ps[ps < 0] = 0  # missing (int32 min) and vector-end values
    return ps


def _map_alleles(alleles: np.ndarray, amap: list[int]) -> np.ndarray:
    """VCF allele indices [n, 2] -> KB codes via a lookup table (-1 missing, -2 haploid)."""
    k = len(amap)
    lut = np.array([*amap, MISSING, HAPLOID, MISSING], dtype=np.int16)
    a = alleles.astype(np.int32)
    idx = np.where(a >= k, k + 2, np.where(a >= 0, a, k - 1 - a))
    idx = np.clip(idx, 0, k + 2)
    out = lut[idx]
    # a lone '.' (missing, then vector end) says nothing about ploidy
    lone = (out[:, 0] == MISSING) & (out[:, 1] == HAPLOID)
    out[lone, 1] = MISSING
    return out


def _merge_into(cur, cur_phased, cur_ps, new, new_phased, new_ps) -> np.ndarray:
    """Merge a second record's codes into ``cur`` in place; return rows with a conflict."""

    def clash(a, b):
        return ((a > 0) & (b > 0) & (a != b)).sum(axis=1)

    swappable = ~new_phased & (new != HAPLOID).all(axis=1) & (cur != HAPLOID).all(axis=1)
    swap = swappable & (clash(cur, new[:, ::-1]) < clash(cur, new))
    new = np.where(swap[:, None], new[:, ::-1], new)
    conflict = ((cur > 0) & (new > 0) & (cur != new)).any(axis=1)
    merged = np.where(
        cur > 0,
        cur,
        np.where(
            new > 0,
            new,
            np.where((cur == MISSING) | (new == MISSING), MISSING, np.where((cur == 0) | (new == 0), 0, HAPLOID)),
        ),
    )
    cur[:] = merged
    cur_phased &= new_phased
    cur_ps[:] = np.where(cur_ps > 0, cur_ps, new_ps)
    return conflict


def _status(codes: np.ndarray) -> np.ndarray:
    miss = codes == MISSING
    both = miss[..., 0] & (miss[..., 1] | (codes[..., 1] == HAPLOID))
    status = np.full(codes.shape[:2], STATUS_CALLED, dtype=np.int8)
    status[miss.any(axis=2)] = STATUS_PARTIAL
    status[both] = STATUS_MISSING
    return status
