"""Step 1 of a read: copy the header and the data lines that concern a KB position into a
small plain VCF (tabix queries for an indexed file, one streamed pass otherwise),
checking REF bases, symbolic alleles, FILTER values and contig names on the way
(see :mod:`pgx.vcf`)."""

from __future__ import annotations

import gzip
import re
import zlib
from pathlib import Path

from pgx.builds import GRCH37, canonical_contig, mito_contig_refusal, refusal_warning
from pgx.errors import GenomeBuildError, VcfError
from pgx.vcf.records import (
    MAX_LISTED,
    as_text,
    has_sv_allele,
    info_end,
    info_svlen,
    is_ref_block,
    is_symbolic,
    line_overlaps,
    listing,
    ref_agrees,
    sv_span,
)
from pgx.vcf.kb_index import KbIndex
from pgx.vcf.inspection import (
    MAX_LINE_BYTES,
    VcfFile,
    bounded_lines,
    contig_lengths,
    line_too_long,
    open_binary,
    stated_build,
    wrong_index,
)


#: more than this fraction of the KB positions present with a disagreeing REF (and at
#: least two of them) means the VCF is on another genome build
BUILD_MISMATCH_FRACTION = 0.1

#: KB positions closer than this share one tabix query (the tabix linear-index window is
#: 16 kb, so a query reads from up to that far before its start anyway)
QUERY_MERGE_GAP = 16_384


def _declare_contigs(header: bytes, names: list[str]) -> bytes:
    """``header`` with a ``##contig`` line for each of ``names`` it does not declare."""
    declared = set(re.findall(rb"^##contig=<(?:[^\n]*?[<,])?ID=([^,>\n]+)", header, re.M))
    extra = b"".join(b"##contig=<ID=%s>\n" % n.encode() for n in names if n.encode() not in declared)
    at = header.rfind(b"#CHROM")
    return header[:at] + extra + header[at:]


class Extractor:
    """Copies the header and the KB-relevant lines of one file to a small plain VCF."""

    def __init__(self, vf: VcfFile, kbi: KbIndex, build: str | None = None):
        self.vf, self.kbi = vf, kbi
        self.lengths = contig_lengths(vf.header)
        self.build = build or stated_build(vf.header, self.lengths, vf.contigs)
        vf.read_build = self.build
        self.contig_map: dict[str | bytes, str | None] = {}
        self.seen_contigs: set[str] = set(vf.contigs)
        self.present_sites: set[tuple[str, int]] = set()
        self.ref_checked: set[tuple[str, int]] = set()  # KB positions with a record starting there
        self.ref_mismatch: dict[tuple[str, int], tuple[str, str]] = {}
        self.symbolic: dict[str, list[str]] = {}
        self.filtered: dict[str, list[str]] = {}  # FILTER value -> KB records carrying it
        self.n_columns = 9 + len(vf.samples)
        self.pending_windows = {c: list(w) for c, w in kbi.windows.items()}  # regions not yet seen

    def run(self, out: Path) -> None:
        """Write the header and the KB-relevant records to ``out``.

        Each kept record's CHROM is rewritten to the KB's name of its chromosome, and the
        header declares those names: htslib never has to add a contig to the header while
        it parses, which crashes cyvcf2 when that record is also malformed (found by
        fuzzing: a segmentation fault, not an error)."""
        with open(out, "wb") as dst:
            dst.write(_declare_contigs(self.vf.header, sorted(set(self.kbi.kb_names()))))
            lines = self._fetch() if self.vf.index else self._stream()
            for where, line in lines:
                kept = self._keep(line, where)
                if kept is not None:
                    dst.write(kept)
        self.vf.extracted = out
        self._finish()

    # sources of lines: (where, line) with where = a line number or a region, for messages
    def _stream(self):
        lineno = 0
        last = b""
        try:
            with open_binary(self.vf.path, self.vf.kind) as fh:
                for lineno, line in bounded_lines(fh, self.vf.name):
                    if line[:1] != b"#":
                        last = line
                        yield lineno, line
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise VcfError(
                f"{self.vf.name}, line {lineno + 1}: the compressed file is truncated or corrupt ({exc}); "
                "re-download it or re-compress the VCF with bgzip"
            ) from exc
        n_cols = last.count(b"\t") + 1
        if last and not last.endswith(b"\n") and n_cols != self.n_columns:
            self._truncated_last_line(lineno, n_cols)

    def _truncated_last_line(self, lineno: int, n_cols: int) -> None:
        raise VcfError(
            f"{self.vf.name}, line {lineno}: the last line is cut short (no newline, {n_cols} of "
            f"{self.n_columns} columns); the file is truncated, copy it again"
        )

    def _fetch(self):
        import pysam

        try:
            tb = pysam.TabixFile(str(self.vf.path), index=str(self.vf.index))
        except (OSError, ValueError) as exc:
            raise VcfError(wrong_index(self.vf, self.vf.index, f"htslib cannot open it: {exc}")) from None
        try:
            yield from self._fetch_lines(tb)
        except (OSError, ValueError) as exc:  # htslib: "iteration failed", "could not create iterator"
            raise VcfError(wrong_index(self.vf, self.vf.index, f"reading through it failed: {exc}")) from None
        finally:
            tb.close()

    def _fetch_lines(self, tb):
        self.seen_contigs.update(tb.contigs)
        for contig in tb.contigs:
            canon = self._canon(contig)
            if canon is None:
                continue
            self._fetch_regions(tb, contig, canon)
            previous = None  # the region of the previous query
            wanted = sorted({*self.kbi.sorted_pos[canon], *(p for w in self.kbi.shift.regions(canon) for p in w)})
            for start, end in _clusters(wanted):
                for line in tb.fetch(contig, start - 1, end):
                    if len(line) > MAX_LINE_BYTES:
                        raise VcfError(line_too_long(self.vf.name, f"a record in {contig}:{start}-{end}"))
                    # a record that overlaps the previous query's region was returned by it
                    if previous and line_overlaps(line, *previous):
                        continue
                    yield f"{contig}:{start}-{end}", line
                previous = (start, end)

    def _canon(self, contig: str | bytes) -> str | None:
        """The canonical KB contig a file contig maps to, or None (cached)."""
        try:
            return self.contig_map[contig]
        except KeyError:
            text = contig.decode("utf-8", "replace") if isinstance(contig, bytes) else contig
            self.seen_contigs.add(text)
            canon = canonical_contig(text)
            result = canon if canon in self.kbi.sites else None
            refusal = mito_contig_refusal(text, self.lengths.get(text), self.build) if result == "MT" else None
            if refusal:
                self.vf.warnings.append(refusal_warning(self.vf.name, refusal))
                result = None
            self.contig_map[contig] = result
            return result

    def _keep(self, line: str | bytes, where: int | str) -> bytes | None:
        """The line (bytes, newline-terminated) if it concerns a KB position, else None."""
        sep = b"\t" if isinstance(line, bytes) else "\t"
        t1 = line.find(sep)
        t2 = line.find(sep, t1 + 1)
        if t1 < 0 or t2 < 0:
            self._malformed(where, "fewer than 8 columns")
        canon = self._canon(line[:t1])
        if canon is None:
            return None
        try:
            pos = int(line[t1 + 1 : t2])
        except ValueError:
            self._malformed(where, f"POS is not a number ({line[t1 + 1 : t2]!r})")
        pending = self.pending_windows.get(canon)
        if pending:
            self._note_region(canon, pending, pos)
        at_site = pos in self.kbi.sites[canon]
        near = self.kbi.shift.near(canon, pos)  # may be another form of a KB indel
        if not at_site and not near:  # only a reference block starting elsewhere can still concern the KB
            t3 = line.find(sep, t2 + 1)
            t4 = line.find(sep, t3 + 1)
            if t4 < 0 or as_text(line[t4 + 1 : t4 + 2]) not in ("<", "."):
                return None
        fields = line.split(sep, 8)
        if len(fields) < 9:
            self._malformed(where, "fewer than 9 columns")
        ref, alt, info = (as_text(f) for f in (fields[3], fields[4], fields[7]))
        if not ref:
            self._malformed(where, "REF is empty")
        alts = alt.split(",") if alt not in (".", "") else []
        block = is_ref_block(alts)
        # the span a reference block covers, as cyvcf2's Variant.end computes it
        end = max(info_end(info) or 0, pos + len(ref) - 1) if block else pos
        sv = not block and has_sv_allele(alts)
        sv_over_kb = sv and bool(self.kbi.covered(canon, *sv_span(pos, ref, info_end(info), info_svlen(info))))
        shifted = near and not block and not sv and self._shifted(canon, pos, ref, alts, where, as_text(line[:t1]))
        if not at_site and not shifted and not sv_over_kb and not (block and end > pos and self.kbi.covered(canon, pos, end)):
            return None
        data = line.encode() if isinstance(line, str) else line
        cut_short = isinstance(where, int) and not data.endswith(b"\n")  # a streamed line without newline
        data = data.rstrip(b"\r\n")
        n_cols = data.count(b"\t") + 1
        if n_cols != self.n_columns:
            if cut_short:
                self._truncated_last_line(where, n_cols)
            self._malformed(where, f"{n_cols} columns, but the header names {len(self.vf.samples)} samples")
        if at_site:
            self._check_site(canon, pos, ref.upper(), alts, block)
        flag = as_text(fields[6])
        if flag not in _PASSING_FILTERS:
            self.filtered.setdefault(flag, []).append(self._label(canon, pos))
        if block:
            self.present_sites.update((canon, p) for p in self.kbi.covered(canon, pos, end))
        return self.kbi.kb_name[canon].encode() + data[data.index(b"\t") :] + b"\n"

    def _shifted(self, canon: str, pos: int, ref: str, alts: list[str], where: int | str, chrom: str) -> bool:
        """Does the record concern a KB indel written at another position? Warns (once per
        record) when it cannot be placed: its REF disagrees with the known reference, or
        the known bases do not decide whether it is the KB indel."""
        placement = self.kbi.shift.place(canon, pos, ref, alts)
        if placement is None:
            return False
        at = f"{self.vf.name}, {f'line {where}' if isinstance(where, int) else f'a record in {where}'}: {chrom}:{pos} {ref}>{','.join(alts)}"
        loci = listing(sorted({self._label(canon, self.kbi.shift.pos[j]) for j in placement.loci}))
        if placement.conflict:
            self.vf.warnings.append(
                f"{at}: not matched to the KB indel at {loci}: {placement.conflict}. Check the genome build "
                "and the REF column; samples carrying it are missing there"
            )
        elif placement.unresolved:
            self.vf.warnings.append(
                f"{at}: ALT {','.join(placement.unresolved)} lies in the span of the KB indel at {loci}, but the "
                "known reference bases cannot tell whether it is that indel written at another position; it is "
                "not matched and samples carrying it are missing there. Left-align the file against GRCh38 "
                "(bcftools norm -f GRCh38.fa) and run again"
            )
        return True

    def _note_region(self, canon: str, pending: list[tuple[int, int, str]], pos: int) -> None:
        """Mark the genes whose region holds a record at ``pos`` as covered by the file."""
        for window in [w for w in pending if w[0] <= pos <= w[1]]:
            self.vf.covered_genes.add(window[2])
            pending.remove(window)

    def _fetch_regions(self, tb, contig: str, canon: str) -> None:
        """Indexed files: one tiny region query per gene tells whether the file covers it."""
        for start, end, gene in self.kbi.windows.get(canon, []):
            if gene not in self.vf.covered_genes and next(iter(tb.fetch(contig, start - 1, end)), None) is not None:
                self.vf.covered_genes.add(gene)

    def _check_site(self, canon: str, pos: int, ref: str, alts: list[str], block: bool) -> None:
        self.present_sites.add((canon, pos))
        self.ref_checked.add((canon, pos))
        for j in self.kbi.sites[canon][pos]:
            if not ref_agrees(ref, self.kbi.refs[j], self.kbi.alts[j], self.build == GRCH37):
                self.ref_mismatch.setdefault((canon, pos), (ref, self.kbi.refs[j]))
        if not block:
            for a in alts:
                if is_symbolic(a):
                    self.symbolic.setdefault(a, []).append(self._label(canon, pos))

    def _label(self, canon: str, pos: int) -> str:
        """``chr10:94761900``: a position in the KB's contig names (any position, KB or not)."""
        return f"{self.kbi.kb_name[canon]}:{pos}"

    def _malformed(self, where: int | str, why: str) -> None:
        at = f"line {where}" if isinstance(where, int) else f"a record in {where}"
        raise VcfError(f"{self.vf.name}, {at}: malformed VCF record ({why}); fix or re-export the file")

    def _finish(self) -> None:
        vf, kbi = self.vf, self.kbi
        vf.seen_contigs = sorted(self.seen_contigs)
        vf.kb_contigs = [c for c in vf.seen_contigs if canonical_contig(c) in kbi.sites]
        if not vf.kb_contigs:
            shown = ", ".join(sorted(self.seen_contigs)[:MAX_LISTED]) or "none"
            vf.warnings.append(
                f"{vf.name}: no KB chromosome present: none of its contigs ({shown}) names a chromosome of "
                f"the knowledge base ({', '.join(kbi.kb_names())}; 'chr10' and '10' are both accepted), "
                "so every KB position is missing from it"
            )
        for allele, where in sorted(self.symbolic.items()):
            vf.warnings.append(
                f"{vf.name}: symbolic ALT {allele} ignored at {listing(where)} (a sample carrying it has a missing allele there)"
            )
        for flag, where in sorted(self.filtered.items()):
            vf.warnings.append(
                f"{vf.name}: {len(where)} record(s) at KB positions failed the file's filters (FILTER {flag}): "
                f"{listing(where)}. pgx reads only GT, so their genotypes are used; if they should not count, "
                "remove them first (bcftools view -f PASS,. in.vcf.gz)"
            )
        bad = self.ref_mismatch
        if not bad:
            return
        listed = listing([f"{self._label(c, p)} (VCF REF {r}, KB REF {k})" for (c, p), (r, k) in sorted(bad.items())])
        n_present = len(self.ref_checked)
        if len(bad) >= 2 and len(bad) > BUILD_MISMATCH_FRACTION * n_present:
            raise GenomeBuildError(
                f"{vf.name}: the REF base disagrees with the knowledge base at {len(bad)} of {n_present} KB "
                f"positions present ({listed}); the file looks like another genome build (the KB is GRCh38). "
                "Lift it over to GRCh38 or give the GRCh38 VCF"
            )
        vf.warnings.append(f"{vf.name}: REF disagrees with the knowledge base at {listed}; check these records")


#: FILTER values of a record that passed (or was not filtered)
_PASSING_FILTERS = ("PASS", ".", "")


def _clusters(positions: list[int]) -> list[tuple[int, int]]:
    """Sorted positions grouped into (start, end) query regions."""
    out: list[list[int]] = []
    for p in positions:
        if out and p - out[-1][1] <= QUERY_MERGE_GAP:
            out[-1][1] = p
        else:
            out.append([p, p])
    return [(a, b) for a, b in out]
