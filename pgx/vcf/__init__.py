"""Read genotypes at knowledge-base positions from VCF files.

This package is the only part of ``pgx`` that touches cyvcf2 or pysam. It turns one or
more VCFs into a :class:`pgx.genotypes.GenotypeMatrix` (samples x KB loci x 2 allele
codes). Its modules follow a read:

* :mod:`pgx.vcf.inspection`: one file before it is read (compression, index, bounded
  header, samples, stated build; the input check's sniffs; ``bgzip_vcf``);
* :mod:`pgx.vcf.kb_index`: the KB loci arranged for the read;
* :mod:`pgx.vcf.extract`: step 1 below;
* :mod:`pgx.vcf.decode`: step 2 below;
* :mod:`pgx.vcf.records`: what a data line says (INFO/END, symbolic and structural
  alleles, REF agreement), shared by both steps;
* :mod:`pgx.vcf.union`: several files as one cohort, chunk by chunk of samples.

The names below are the package's interface; import them from ``pgx.vcf``.

How a file is read (two steps, so memory and work stay proportional to the KB, not to
the file):

1. **Extract.** The data lines that concern a KB position are copied, with the header,
   into a small temporary VCF. A bgzipped file with a fresh ``.tbi``/``.csi`` index is
   read with tabix region queries (KB positions closer than ``QUERY_MERGE_GAP`` share one
   query, so each BGZF block is decompressed once); any other file is streamed once and
   each line is kept or skipped on its CHROM/POS (and, for gVCF reference blocks, its
   INFO/END) before its genotypes are parsed. REF bases, symbolic alleles and contig
   names are checked here.
2. **Decode.** The small VCF is parsed once with cyvcf2, for every sample read.
   Genotypes come out as numpy arrays and are mapped to KB allele codes with one lookup
   table per record: no Python loop over samples. They are kept compact, only at the
   loci the file's records concern (3 bytes per sample and such locus, 7 with FORMAT/PS:
   90 MB for 100,000 samples over the ~300 KB records of whole-genome files that list
   variant sites, 360 MB if every KB position has a record), and each sample chunk
   (``iter_genotype_chunks``) is a slice of them, so no record is parsed twice.

Decisions (the rules a reader of the output can rely on):

* **Contigs.** ``chr10``/``10``, ``chrX``/``X`` and ``chrM``/``chrMT``/``M``/``MT`` name the
  same chromosome; the matrix uses the KB's names. A mitochondrial contig that is not rCRS
  (hg19's 16,571 bp Yoruba ``chrM``, see :func:`pgx.builds.mito_contig_refusal`) is not read,
  with a warning.
* **Which records.** A record concerns a KB locus when its POS equals the locus POS (for
  an indel, the padding base). Records that merely overlap a locus (a deletion starting
  upstream) are not read, except gVCF reference blocks (below) and other forms of a KB
  indel (next).
* **Indels written in another form.** A non-SNV record inside a KB indel's span
  (``loci.ref_context``; from up to ``normalize.MAX_LEFT_PADDING`` bases before it) that
  is that indel moved along its repeat, or written with extra shared bases, is read at the
  KB locus (:mod:`pgx.normalize` decides, from the known reference bases only). Its REF
  is 0, an equivalent ALT the KB code, an ALT normalising to the locus POS a novel code,
  another variant 0. An ALT that cannot be decided, or any allele of a record whose REF
  disagrees with a known base, is MISSING there, and the extract step warns naming the
  line. The same KB allele for one sample on an exact and a shifted record is one variant
  written twice: the first record's genotype is kept, with a warning.
* **Alleles, not lines.** Every allele of a record is rewritten in the KB locus's REF
  frame and looked up among the KB REF (code 0) and ALTs (codes 1..n, KB order). When the
  record REF is shorter than the KB REF (and a prefix of it) the rest of the KB REF is
  appended; when it is longer, its extra tail must end the allele and is trimmed (common
  suffix normalisation). So ``CCTTT>CT`` at the POS of KB ``CCTT>C`` *is* that deletion,
  while an SNV ``C>T`` at the same POS is a different variant: its allele ``TCTT`` is a
  novel allele. Alleles not in the KB get new codes (``len(alts)+1..``) with their
  sequence in ``novel_alleles``; one that cannot be written in the KB frame (the record
  REF is longer and the allele does not end with its tail, e.g. a deletion at the POS of a
  KB SNV) is stored as the record's ``REF>ALT``; ``*`` (an upstream deletion) is the novel
  allele ``*``. Symbolic alleles (``<DEL>``, ``<*>``, ``<NON_REF>``, breakends) are never
  compared: a sample carrying one gets MISSING for that allele, and the read warns.
* **Several records at one locus** (split multi-allelics, or an SNV and an indel at one
  POS): per haplotype slot, a non-reference code beats a reference code (``0|1`` on the
  ALT1 record plus ``0|0`` on the ALT2 record -> ``(0, 1)``), a missing allele beats a
  reference one (the other record's ALT cannot be ruled out), and two different
  non-reference codes conflict: the first record's is kept and the read warns. Unphased
  genotypes may swap slots to avoid a conflict. ``phased`` is the AND over the records,
  ``phase_set`` the first non-zero FORMAT/PS.
* **gVCF reference blocks.** A record whose ALTs are only ``<NON_REF>``/``<*>`` (or ``.``)
  with INFO/END covers POS..END: its genotype (``0/0``) counts for every KB position in
  that span (status called, code 0).
* **Genotypes.** ``./.`` -> MISSING, status missing; ``0/.`` -> status partial (the
  called allele kept). ``|`` -> phased. Haploid calls (chrX in males, chrM) put HAPLOID
  in the second slot and count as phased (one haplotype needs no phasing); a lone ``.``
  is MISSING in both slots (its ploidy is unknown). More than two alleles: MISSING, with
  a warning.
* **Absent positions** are MISSING / status missing. With ``assume_reference`` they are
  code 0 / status assumed_reference, unphased; a sample whose every call on that
  chromosome is haploid gets a haploid assumed genotype ``(0, HAPLOID)``, so hemizygous
  genes (G6PD in males) stay hemizygous.
* **Several files** form one cohort: the union of their samples and loci (files may split
  the genome, the samples, or both). One sample called at one KB position in two files is
  a :class:`VcfError` naming both files, unless the genotypes agree (same alleles; a
  missing or partial genotype never conflicts: the more complete one is kept).
  ``origin`` names the file each genotype was read from (``genotypes.source_file``): the
  one whose genotype was kept, so the first file unless a later one is more complete;
  none (-1) where no file had a record for the sample (missing or assumed reference).
* **Genome build.** A KB position whose record REF disagrees with the KB REF (over their
  common length; ``N`` matches anything) is a warning naming it; when at least two and
  more than ``BUILD_MISMATCH_FRACTION`` of the KB positions present disagree, the file is
  another build: :class:`GenomeBuildError`.
* **Sample IDs** may be any printable text (:mod:`pgx.sample_ids`); file names are derived
  from them safely, never taken as they are.
"""

from pgx.vcf.extract import BUILD_MISMATCH_FRACTION, QUERY_MERGE_GAP
from pgx.vcf.inspection import (
    MAX_HEADER_BYTES,
    MAX_LINE_BYTES,
    SNIFF_POSITIONS,
    bgzip_vcf,
    contig_lengths,
    find_index,
    header_build,
    header_evidence,
    header_sample_ids,
    kb_site_agreement,
    sniff_compression,
)
from pgx.vcf.kb_index import GENE_REGION_MARGIN
from pgx.vcf.records import sv_span
from pgx.vcf.union import concat_matrices, iter_genotype_chunks, read_genotypes

__all__ = [
    "BUILD_MISMATCH_FRACTION",
    "GENE_REGION_MARGIN",
    "MAX_HEADER_BYTES",
    "MAX_LINE_BYTES",
    "QUERY_MERGE_GAP",
    "SNIFF_POSITIONS",
    "bgzip_vcf",
    "concat_matrices",
    "contig_lengths",
    "find_index",
    "header_build",
    "header_evidence",
    "header_sample_ids",
    "iter_genotype_chunks",
    "kb_site_agreement",
    "read_genotypes",
    "sniff_compression",
    "sv_span",
]
