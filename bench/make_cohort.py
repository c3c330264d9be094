#!/usr/bin/env python
"""Synthetic biobank cohort: haplotypes resampled from the 1000 Genomes VCFs.

Each new genome gets, per gene file, two haplotypes drawn at random (with replacement)
from the 6,404 haplotypes of the 3,202 phased 1000 Genomes samples. A haplotype is
copied whole across every record of the gene file, so linkage within a gene is kept;
genes are drawn independently of each other (no linkage between genes, which pgx does
not use). The result is one bgzipped, tabix-indexed, multi-sample VCF per gene with the
same sample IDs (``SYN0000001`` ...) in every file.

    python bench/make_cohort.py --n 100000 --out /tmp/cohort100k --seed 1 [--genes CYP2C19 ...]

Choices (see bench/README.md):

* **Records kept.** Only records whose POS lies within ``--flank`` bp (default 0) of a
  pharmacogene position: PharmCAT's position list (``pharmcat_positions.vcf``, every
  position of the 20 genes' allele definitions, which the knowledge base is built from)
  united with the loci of the installed KB. pgx and ``bcftools query -T`` only read
  records at those positions, so the other records of a gene region would add disk,
  bgzip and streaming time but no genotypes for either; with flank 0 a 100,000-genome
  cohort of all 19 genes is ~300 records and ~5 MB on disk. KB positions absent from
  1000 Genomes (invariant there) stay absent, as in the source files: run pgx with
  ``assume_reference``. pgx assumes reference only in genes a file *covers* (has a
  record within 20 kb of the gene's positions), so a gene region the source file
  covers but whose KB positions all lack records (CACNA1S, IFNL3 in 1000 Genomes) keeps
  its first record as a coverage anchor. ``--all-records`` keeps every record instead
  (files as dense as the 1000 Genomes ones, ~100x larger, for a floor that streams
  whole regions as in ``bench_1kgp.py``).
* **Genotypes.** FORMAT is ``GT`` only; INFO and QUAL are dropped (``.``), ID/REF/ALT
  are copied. Alleles are written phased (``|``) in their drawn order, or unphased
  (``/``) with ``--unphased``. A missing allele stays ``.``.
* **chrX (G6PD).** Each new genome takes its ploidy from a random 1000 Genomes donor:
  a male donor gives a haploid genome (one haplotype), a female donor a diploid one;
  haplotypes are drawn from the pool of all chrX haplotypes.
* **Determinism.** The draws of a gene depend only on ``--seed``, the gene name, ``--n``
  and the source file, not on ``--flank`` or the other genes; bgzip output does not
  depend on its thread count. The same command writes byte-identical files.
  ``cohort.json`` records the parameters, the source files' sha256 and each output.

Building is vectorised: each record's genotype line is one numpy byte matrix
(genomes x ``a|b\\t``), so there is no Python loop over samples.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
#: the upstream data beside the checkout, or $PGX_SHARED_DATA (as in tests/conftest.py)
SHARED = Path(os.environ.get("PGX_SHARED_DATA") or ROOT.parent / "shared" / "data")
DEFAULT_DATA = SHARED / "1kgp" / "GRCh38"
PHARMCAT_POSITIONS = SHARED / "pharmcat" / "positions" / "pharmcat_positions.vcf"

MISSING, ABSENT = -1, -2  # allele codes: '.' and "no second allele" (haploid)
RECORD_BLOCK = 256  # records turned into bytes at a time (bounds memory with a large flank)


# --- positions ---------------------------------------------------------------------------


#: a gene counts as covered by a VCF when it has a record within this many bases of the
#: gene's positions (pgx.vcf.GENE_REGION_MARGIN: only then does --assume-reference fill it)
COVERAGE_MARGIN = 20_000


def pharmacogene_positions(kb_root: Path | None = None) -> tuple[dict[str, np.ndarray], list[tuple[str, int, int]]]:
    """(chrom -> sorted unique positions, gene regions (chrom, first, last position)).

    PharmCAT's position list united with the installed KB's loci.
    """
    found: dict[str, set[int]] = {}
    genes: dict[str, tuple[str, list[int]]] = {}

    def add(chrom: str, pos: int, gene: str) -> None:
        found.setdefault(chrom, set()).add(pos)
        if gene:
            genes.setdefault(gene, (chrom, []))[1].append(pos)

    if PHARMCAT_POSITIONS.exists():
        with open(PHARMCAT_POSITIONS) as fh:
            for line in fh:
                if not line.startswith("#"):
                    chrom, pos, _, _, _, _, _, info = line.split("\t", 8)[:8]
                    gene = next((f[3:] for f in info.split(";") if f.startswith("PX=")), "")
                    add(chrom, int(pos), gene)
    try:
        sys.path.insert(0, str(ROOT))
        from pgx.kb import load_kb

        loci = load_kb(kb_root).loci()
        for chrom, pos, gene in zip(loci["chrom"], loci["pos"], loci["gene"]):
            add(str(chrom), int(pos), str(gene))
    except Exception as exc:  # the KB is optional here: PharmCAT's list covers every gene
        print(f"make_cohort: KB loci not used ({exc})", file=sys.stderr)
    if not found:
        raise SystemExit(f"make_cohort: no positions: {PHARMCAT_POSITIONS} is missing and the KB did not load")
    regions = sorted((chrom, min(ps), max(ps)) for chrom, ps in genes.values())
    return {c: np.array(sorted(p), dtype=np.int64) for c, p in found.items()}, regions


def targets_file(positions: dict[str, np.ndarray], flank: int, path: Path) -> Path:
    """A bcftools targets file (chrom, start, end), merged intervals of positions +- flank."""
    with open(path, "w") as fh:
        for chrom, pos in sorted(positions.items()):
            start, end = pos - flank, pos + flank
            # merge overlapping windows so no record is reported twice
            cur_s, cur_e = int(start[0]), int(end[0])
            for s, e in zip(start[1:].tolist(), end[1:].tolist()):
                if s <= cur_e + 1:
                    cur_e = max(cur_e, e)
                else:
                    fh.write(f"{chrom}\t{max(cur_s, 1)}\t{cur_e}\n")
                    cur_s, cur_e = s, e
            fh.write(f"{chrom}\t{max(cur_s, 1)}\t{cur_e}\n")
    return path


# --- the source haplotypes ----------------------------------------------------------------

QUERY_FORMAT = "%CHROM\t%POS\t%ID\t%REF\t%ALT[\t%GT]\n"


class SourceGene:
    """One 1000 Genomes gene file at the kept records: sites and a haplotype matrix.

    Kept: every record (``targets`` None), or the records of ``targets`` plus, for each
    gene region in ``regions`` that the source file covers but none of those records
    does, the region's first record (a "coverage anchor"): pgx assumes reference only
    for genes a file covers, so the synthetic file covers the same genes as its source.
    """

    def __init__(self, path: Path, targets: Path | None, regions: list[tuple[str, int, int]] = ()):
        self.path = path
        self.header = self._header()
        self.samples = self.header[-1].rstrip("\n").split("\t")[9:]
        cmd = ["bcftools", "query", "-f", QUERY_FORMAT, str(path)]
        lines = _query(cmd if targets is None else cmd[:2] + ["-T", str(targets)] + cmd[2:])
        self.anchors = 0
        if targets is not None:
            lines = self._add_anchors(lines, regions)
        self.sites = [b"\t".join(line.split(b"\t", 5)[:5]) for line in lines]
        n_s = len(self.samples)
        # haplotypes [records, 2 * samples]: sample s has columns 2s and 2s+1
        self.haps = np.full((len(lines), 2 * n_s), MISSING, dtype=np.int8)
        haploid_votes = np.zeros(n_s, dtype=np.int64)
        for r, line in enumerate(lines):
            gts = np.array(line.split(b"\t")[5:], dtype=object)
            if len(gts) != n_s:
                raise SystemExit(f"make_cohort: {path}: record {r + 1} has {len(gts)} genotypes, expected {n_s}")
            uniq, inv = np.unique(gts, return_inverse=True)
            table = np.array([_parse_gt(g) for g in uniq], dtype=np.int8).reshape(-1, 2)
            pair = table[inv.reshape(-1)]
            self.haps[r, 0::2], self.haps[r, 1::2] = pair[:, 0], pair[:, 1]
            haploid_votes += pair[:, 1] == ABSENT
        # a sample is haploid here (a male on chrX) when most of its genotypes are
        self.haploid = haploid_votes * 2 > max(len(lines), 1)
        self.sha256 = _sha256(path)

    def _add_anchors(self, lines: list[bytes], regions: list[tuple[str, int, int]]) -> list[bytes]:
        contigs = {h[len("##contig=<ID=") :].split(",")[0].rstrip(">\n") for h in self.header if h.startswith("##contig=<ID=")}
        kept = [(line.split(b"\t", 1)[0].decode(), int(line.split(b"\t", 2)[1])) for line in lines]
        extra = []
        for chrom, first, last in regions:
            start, end = max(1, first - COVERAGE_MARGIN), last + COVERAGE_MARGIN
            if chrom not in contigs or any(c == chrom and start <= p <= end for c, p in kept):
                continue
            found = _query(["bcftools", "query", "-r", f"{chrom}:{start}-{end}", "-f", QUERY_FORMAT, str(self.path)])
            if found:
                extra.append(found[0])
                kept.append((chrom, int(found[0].split(b"\t", 2)[1])))
        self.anchors = len(extra)
        if not extra:
            return lines
        return sorted([*lines, *extra], key=lambda line: int(line.split(b"\t", 2)[1]))

    def _header(self) -> list[str]:
        text = subprocess.run(["bcftools", "view", "-h", str(self.path)], check=True, capture_output=True, text=True).stdout
        return text.splitlines(keepends=True)

    def draw(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Haplotype columns of ``n`` new genomes (second = -1 for a haploid genome)."""
        n_s = len(self.samples)
        if not self.haploid.any():
            g = rng.integers(0, 2 * n_s, size=(n, 2))
            return g[:, 0], g[:, 1]
        donors = rng.integers(0, n_s, size=n)
        pool = np.flatnonzero(~(np.arange(2 * n_s) % 2 == 1) | ~np.repeat(self.haploid, 2))
        g = pool[rng.integers(0, len(pool), size=(n, 2))]
        second = np.where(self.haploid[donors], -1, g[:, 1])
        return g[:, 0], second


def _query(cmd: list[str]) -> list[bytes]:
    return subprocess.run(cmd, check=True, capture_output=True).stdout.splitlines()


def _parse_gt(token: bytes) -> tuple[int, int]:
    """``0|1`` -> (0, 1); ``1`` -> (1, ABSENT); ``.`` -> (MISSING, ABSENT); ``./.`` -> missing."""
    text = token.decode()
    for sep in "|/":
        if sep in text:
            a, b = text.split(sep)[:2]
            return _allele(a), _allele(b)
    return _allele(text), ABSENT


def _allele(text: str) -> int:
    if text == ".":
        return MISSING
    value = int(text)
    if value > 9:
        raise SystemExit(f"make_cohort: allele index {value} > 9 is not supported (split multi-allelic records)")
    return value


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --- writing ------------------------------------------------------------------------------


def genotype_lines(haps: np.ndarray, first: np.ndarray, second: np.ndarray, sep: bytes) -> list[bytes]:
    """The sample columns of each record (``a|b\\t...a|b\\n``), built as numpy bytes.

    ``haps`` [records, haplotypes]; ``first``/``second`` the haplotype column of each new
    genome, ``second`` -1 for a haploid genome.
    """
    n = len(first)
    chars = np.frombuffer(b".0123456789", dtype=np.uint8)  # index = allele + 1
    haploid = second < 0
    out = []
    for start in range(0, haps.shape[0], RECORD_BLOCK):
        block = haps[start : start + RECORD_BLOCK]
        r = block.shape[0]
        buf = np.empty((r, n, 4), dtype=np.uint8)
        buf[:, :, 0] = chars[block[:, first] + 1]
        buf[:, :, 1] = sep[0]
        buf[:, :, 2] = chars[block[:, np.where(haploid, first, second)] + 1]
        buf[:, :, 3] = ord("\t")
        buf[:, -1, 3] = ord("\n")
        flat = buf.reshape(r, 4 * n)
        if haploid.any():
            keep = np.ones((n, 4), dtype=bool)
            keep[haploid, 1:3] = False
            flat = flat[:, keep.reshape(-1)]
        out.extend(row.tobytes() for row in flat)
    return out


def output_header(src: SourceGene, sample_ids: list[str], args: argparse.Namespace) -> bytes:
    """Source header without INFO/FORMAT lines other than GT and without command history."""
    keep = []
    for line in src.header[:-1]:
        if line.startswith(("##INFO=", "##bcftools", "##source", "##FORMAT=")) and not line.startswith("##FORMAT=<ID=GT,"):
            continue
        keep.append(line)
    if not any(line.startswith("##FORMAT=<ID=GT,") for line in keep):
        keep.append('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n')
    keep.append("##source=pgx bench/make_cohort.py\n")
    keep.append(
        f"##make_cohort=<seed={args.seed},n={args.n},flank={'all' if args.all_records else args.flank},phased={str(not args.unphased).lower()},"
        f"source={src.path.name},source_sha256={src.sha256}>\n"
    )
    cols = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *sample_ids]
    return "".join(keep).encode() + "\t".join(cols).encode() + b"\n"


def write_gene(src: SourceGene, gene: str, sample_ids: list[str], out: Path, args: argparse.Namespace) -> dict:
    rng = np.random.default_rng([args.seed, zlib.crc32(gene.encode())])
    first, second = src.draw(args.n, rng)
    sep = b"/" if args.unphased else b"|"
    path = out / f"{gene}.vcf.gz"
    tmp = out / f".{gene}.vcf.gz.tmp"
    with open(tmp, "wb") as fh:
        bgzip = subprocess.Popen(["bgzip", "-@", str(args.threads), "-c"], stdin=subprocess.PIPE, stdout=fh)
        bgzip.stdin.write(output_header(src, sample_ids, args))
        for site, gts in zip(src.sites, genotype_lines(src.haps, first, second, sep)):
            bgzip.stdin.write(site + b"\t.\tPASS\t.\tGT\t" + gts)
        bgzip.stdin.close()
        if bgzip.wait() != 0:
            raise SystemExit(f"make_cohort: bgzip failed for {gene}")
    tmp.replace(path)
    subprocess.run(["tabix", "-f", "-p", "vcf", str(path)], check=True)
    return {
        "gene": gene,
        "file": path.name,
        "records": len(src.sites),
        "coverage_anchors": src.anchors,
        "haploid_genomes": int((second < 0).sum()),
        "bytes": path.stat().st_size,
        "sha256": _sha256(path),
        "source": str(src.path),
        "source_sha256": src.sha256,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, required=True, help="number of genomes")
    ap.add_argument("--out", type=Path, required=True, help="output directory (one <GENE>.vcf.gz per gene)")
    ap.add_argument("--genes", nargs="*", help="genes (default: every <GENE>.vcf.gz in --data)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="1000 Genomes per-gene VCFs")
    ap.add_argument("--flank", type=int, default=0, help="also keep records this many bp around a position")
    ap.add_argument("--all-records", action="store_true", help="keep every record of the source files")
    ap.add_argument("--unphased", action="store_true", help="write '/' genotypes")
    ap.add_argument("--threads", type=int, default=2, help="bgzip threads")
    ap.add_argument("--kb", type=Path, help="KB directory whose loci are added to PharmCAT's positions")
    args = ap.parse_args(argv)
    if args.n < 1:
        ap.error("--n must be at least 1")
    genes = args.genes or sorted(p.name[: -len(".vcf.gz")] for p in args.data.glob("*.vcf.gz"))
    if not genes:
        ap.error(f"no <GENE>.vcf.gz in {args.data}; give --data (or set PGX_SHARED_DATA)")
    missing = [g for g in genes if not (args.data / f"{g}.vcf.gz").exists()]
    if missing:
        ap.error(f"no 1000 Genomes file for {', '.join(missing)} in {args.data}")
    args.out.mkdir(parents=True, exist_ok=True)
    positions, regions = pharmacogene_positions(args.kb)
    targets = None if args.all_records else targets_file(positions, args.flank, args.out / "positions.targets.tsv")
    sample_ids = [f"SYN{i:07d}" for i in range(1, args.n + 1)]
    start = time.perf_counter()
    written = []
    for gene in genes:
        t = time.perf_counter()
        src = SourceGene(args.data / f"{gene}.vcf.gz", targets, regions)
        info = write_gene(src, gene, sample_ids, args.out, args)
        written.append(info)
        print(
            f"{gene:<8} {info['records']:5d} records  {info['bytes'] / 1e6:8.1f} MB  {time.perf_counter() - t:6.1f} s",
            file=sys.stderr,
        )
    manifest = {
        "generator": "bench/make_cohort.py",
        "n": args.n,
        "seed": args.seed,
        "flank": "all records" if args.all_records else args.flank,
        "phased": not args.unphased,
        "positions": "pharmcat_positions.vcf + KB loci",
        "files": written,
    }
    (args.out / "cohort.json").write_text(json.dumps(manifest, indent=2) + "\n")
    total = sum(f["bytes"] for f in written)
    print(
        f"{len(genes)} files, {total / 1e6:.1f} MB, {args.n} genomes in {time.perf_counter() - start:.1f} s -> {args.out}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
