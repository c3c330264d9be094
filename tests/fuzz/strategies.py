"""Hypothesis strategies for structured fuzzing of pgx's input readers, and the two
properties every input must satisfy: it ends in a result or in a :class:`pgx.errors.PgxError`
(``pgx: error:``), never in another exception (a traceback).

* :func:`vcf_files`: VCFs built from a grammar close to real ones (header lines, a #CHROM
  line with odd sample IDs, records at and around real knowledge-base positions with
  SNVs, indels, symbolic and gVCF alleles, INFO/END/SVLEN, FORMAT GT/PS/DP/CN in any
  order, genotypes of any ploidy and phasing, junk), written plain, gzip or bgzip (with an
  index), then sometimes damaged (cut short, bytes flipped, a line duplicated).
* :func:`outside_call_files`: outside-call TSVs with valid and invalid genes, diplotypes
  (copy numbers, HLA alleles), phenotypes, scores, columns and bytes.

:func:`check_vcf` and :func:`check_outside_calls` run one input through the real code
(reader, matcher, phenotypes, recommendations, Parquet writing) and return what happened.
Used by ``tests/test_fuzz.py`` (bounded, in CI) and ``tests/fuzz/run_fuzz.py`` (long runs).
"""

from __future__ import annotations

import gzip
import string
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from hypothesis import strategies as st

#: genes whose real KB positions the VCFs are built around (three chromosomes and chrM)
GENES = ("TPMT", "CYP2C19", "NUDT15", "MT-RNR1")


@lru_cache(maxsize=1)
def kb():
    from pgx.kb import load_kb

    return load_kb()


@lru_cache(maxsize=1)
def kb_sites() -> list[tuple[str, int, str, str]]:
    loci = kb().loci(list(GENES))
    return [(str(c), int(p), str(r), str(a)) for c, p, r, a in zip(loci["chrom"], loci["pos"], loci["ref"], loci["alts"])]


# --- VCF grammar ------------------------------------------------------------------------

_BASES = st.text(alphabet="ACGTNacgt", min_size=1, max_size=6)
_SYMBOLIC = st.sampled_from(
    ["<DEL>", "<DUP>", "<CNV>", "<INV>", "<DUP:TANDEM>", "<NON_REF>", "<*>", "*", "N[chr10:100[", "<INS:ME>"]
)
_WEIRD = st.text(alphabet=string.printable + "éü患\x00\x01\x7f", max_size=8)

sample_ids = st.one_of(
    st.sampled_from(["S1", "HG00096", "Patient 12", "O'Brien & Co", "患者-7", "a/b", "..", "-x", "x" * 300, ""]),
    st.text(min_size=0, max_size=12),
)


def _contig_for(chrom: str):
    bare = chrom[3:]
    names = [chrom, bare, {"M": "MT"}.get(bare, bare)]
    refseq = {"chr10": "NC_000010.11", "chr6": "NC_000006.12", "chr13": "NC_000013.11", "chrM": "NC_012920.1"}
    if chrom in refseq:
        names.append(refseq[chrom])
    return st.sampled_from(names)


@st.composite
def positions(draw, chrom: str, pos: int) -> str:
    kind = draw(st.integers(0, 9))
    if kind < 6:
        return str(pos)
    if kind < 8:
        return str(max(1, pos + draw(st.integers(-60, 60))))
    return draw(st.sampled_from(["0", "-5", "x", "", "1e3", str(2**40)]))


@st.composite
def alleles(draw, ref: str, alts: str) -> tuple[str, str]:
    kb_alts = [a for a in alts.split(",") if a]
    ref_choice = draw(st.one_of(st.just(ref), st.just(ref + "T"), _BASES, st.just(""), st.just(".")))
    alt_items = draw(
        st.lists(st.one_of(st.sampled_from(kb_alts or ["A"]), _BASES, _SYMBOLIC, st.just(".")), min_size=1, max_size=3)
    )
    return ref_choice, ",".join(alt_items)


@st.composite
def genotype(draw, n_alts: int) -> str:
    kind = draw(st.integers(0, 19))
    if kind == 0:
        return draw(_WEIRD)
    ploidy = draw(st.sampled_from([1, 2, 2, 2, 3]))
    sep = draw(st.sampled_from(["/", "|"]))
    parts = [draw(st.one_of(st.integers(0, n_alts + 2).map(str), st.just("."))) for _ in range(ploidy)]
    return sep.join(parts)


@st.composite
def info_field(draw, pos: int) -> str:
    items = draw(
        st.lists(
            st.one_of(
                st.integers(pos - 5, pos + 200_000).map(lambda e: f"END={e}"),
                st.integers(-200_000, 200_000).map(lambda e: f"SVLEN={e}"),
                st.sampled_from(["SVTYPE=DEL", "DP=12", "AF=0.5", "X", "END=abc", "SVLEN=1,2", "END="]),
            ),
            max_size=3,
        )
    )
    return ";".join(items) or "."


@st.composite
def clean_record(draw, n_samples: int) -> str:
    """A well-formed record at a KB position: the inputs that reach matching and phenotypes."""
    chrom, pos, ref, alts = draw(st.sampled_from(kb_sites()))
    kb_alts = [a for a in alts.split(",") if a] or ["A"]
    rec_alts = draw(
        st.lists(st.one_of(st.sampled_from(kb_alts), st.sampled_from(["A", "C", "G", "T"])), min_size=1, max_size=2, unique=True)
    )
    rec_alts = [a for a in rec_alts if a != ref] or [kb_alts[0]]
    fmt = draw(st.sampled_from(["GT", "GT:PS"]))
    cells = []
    for _ in range(n_samples):
        ploidy = 1 if chrom == "chrM" else draw(st.sampled_from([2, 2, 2, 1]))
        sep = draw(st.sampled_from(["/", "|"]))
        gt = sep.join(draw(st.one_of(st.integers(0, len(rec_alts)).map(str), st.just("."))) for _ in range(ploidy))
        cells.append(gt + (f":{draw(st.integers(1, 500))}" if fmt == "GT:PS" else ""))
    return "\t".join([chrom, str(pos), ".", ref, ",".join(rec_alts), ".", "PASS", ".", fmt, *cells])


@st.composite
def record(draw, n_samples: int) -> str:
    chrom, pos, ref, alts = draw(st.sampled_from(kb_sites()))
    contig = draw(_contig_for(chrom))
    rec_ref, rec_alt = draw(alleles(ref, alts))
    n_alts = len(rec_alt.split(","))
    fmt = draw(st.sampled_from(["GT", "GT", "GT:PS", "PS:GT", "GT:DP", "DP", "GT:CN", "CN", "", "GT:GT"]))
    cells = []
    for _ in range(n_samples):
        values = []
        for key in fmt.split(":") if fmt else []:
            if key == "GT":
                values.append(draw(genotype(n_alts)))
            else:
                values.append(draw(st.one_of(st.integers(-3, 10**6).map(str), st.just("."), _WEIRD)))
        cells.append(":".join(values) if fmt else draw(_WEIRD))
    if draw(st.integers(0, 30)) == 0:  # a wrong number of columns
        cells = cells[: draw(st.integers(0, n_samples))]
    filt = draw(st.sampled_from(["PASS", ".", "LowQual", ""]))
    fields = [contig, draw(positions(chrom, pos)), ".", rec_ref, rec_alt, ".", filt, draw(info_field(pos)), fmt, *cells]
    return "\t".join(fields)


HEADER_LINES = [
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
    '##FORMAT=<ID=PS,Number=1,Type=Integer,Description="Phase set">',
    '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">',
    '##FORMAT=<ID=CN,Number=1,Type=Integer,Description="Copy number">',
    '##INFO=<ID=END,Number=1,Type=Integer,Description="End">',
    '##INFO=<ID=SVLEN,Number=A,Type=Integer,Description="Length">',
    '##INFO=<ID=SVTYPE,Number=1,Type=String,Description="Type">',
    '##ALT=<ID=DEL,Description="Deletion">',
    "##contig=<ID=chr10,length=133797422>",
    "##contig=<ID=chr10,length=135534747>",
    "##contig=<ID=chr6,length=170805979>",
    "##contig=<ID=chrM,length=16571>",
    "##contig=<ID=MT,length=16569>",
    "##contig=<ID=NC_000010.10>",
    "##reference=file:///ref/hg19.fa",
    "##reference=GRCh38",
    '##FILTER=<ID=LowQual,Description="low">',
    "##weird line without equals",
]


@dataclass(frozen=True)
class FuzzVcf:
    text: str
    compression: str  # plain | gzip | bgzip | bgzip+index
    damage: tuple  # (kind, where, value)


@st.composite
def vcf_files(draw) -> FuzzVcf:
    header = [
        "##fileformat=VCFv4.2" if draw(st.integers(0, 40)) else draw(st.sampled_from(["##fileformat=VCFv9", "", "BCF\x02"]))
    ]
    header.append('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
    header += draw(st.lists(st.sampled_from(HEADER_LINES), max_size=8))
    clean = draw(st.booleans())  # half the files well-formed, to reach matching and phenotypes
    if clean:
        samples = draw(
            st.lists(st.sampled_from(["S1", "S2", "Patient 12", "患者-7", "HG00096"]), min_size=1, max_size=4, unique=True)
        )
    else:
        samples = draw(st.lists(sample_ids, min_size=0 if draw(st.integers(0, 30)) == 0 else 1, max_size=4))
    header.append("\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *samples]))
    one = clean_record(len(samples)) if clean else record(len(samples))
    records = draw(st.lists(one, max_size=24 if clean else 12))
    if draw(st.booleans()):
        records.sort(key=lambda line: (line.split("\t")[0], line.split("\t")[1].zfill(12)))
    text = "\n".join(header + records) + ("\n" if draw(st.integers(0, 10)) else "")
    compression = draw(st.sampled_from(["plain", "plain", "gzip", "bgzip", "bgzip+index"]))
    damage_kind = "none" if clean else draw(st.sampled_from(["none"] * 6 + ["truncate", "flip", "duplicate_line", "crlf"]))
    damage = (damage_kind, draw(st.floats(0, 1)), draw(st.integers(0, 255)))
    return FuzzVcf(text, compression, damage)


def write_fuzz_vcf(case: FuzzVcf, folder: Path) -> Path:
    """Write a :class:`FuzzVcf` as a file in ``folder``; returns its path."""
    from pgx.vcf import bgzip_vcf

    text = case.text
    kind, where, value = case.damage
    if kind == "duplicate_line" and "\n" in text:
        lines = text.split("\n")
        i = int(where * (len(lines) - 1))
        lines.insert(i, lines[i])
        text = "\n".join(lines)
    if kind == "crlf":
        text = text.replace("\n", "\r\n")
    data = text.encode("utf-8", "surrogatepass")
    folder.mkdir(parents=True, exist_ok=True)
    if case.compression == "plain":
        path = folder / "fuzz.vcf"
        path.write_bytes(data)
    elif case.compression == "gzip":
        path = folder / "fuzz.vcf.gz"
        path.write_bytes(gzip.compress(data))
    else:
        plain = folder / "fuzz.plain.vcf"
        plain.write_bytes(data)
        path = folder / "fuzz.vcf.gz"
        try:
            bgzip_vcf(plain, path, index="tbi" if case.compression.endswith("index") else None)
        except Exception:  # htslib cannot index unsorted or broken text: keep the unindexed file
            bgzip_vcf(plain, path, index=None)
            for suffix in (".tbi", ".csi"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
    if kind in ("truncate", "flip"):
        raw = bytearray(path.read_bytes())
        if raw:
            i = int(where * (len(raw) - 1))
            if kind == "truncate":
                del raw[i:]
            else:
                raw[i] ^= value or 1
            path.write_bytes(bytes(raw))
    return path


def check_vcf(path: Path, out: Path) -> str:
    """Run one VCF through reading, calling, phenotypes, recommendations and the Parquet
    writers; return ``"result"`` or ``"pgx_error"``. Any other exception propagates."""
    from pgx.errors import PgxError
    from pgx.genotypes import genotype_frame
    from pgx.calling import call_diplotypes
    from pgx.outputs import write_table
    from pgx.phenotype import assign_phenotypes
    from pgx.recommend import recommendation_table
    from pgx.schema import GENOTYPE_STATUSES
    from pgx.vcf import read_genotypes

    try:
        gm = read_genotypes([path], kb().loci(list(GENES)))
        calls = assign_phenotypes(call_diplotypes(gm, kb(), list(GENES)), kb())
        write_table(genotype_frame(gm, kb().version, GENOTYPE_STATUSES), "genotypes", out / "genotypes.parquet")
        write_table(calls, "calls", out / "calls.parquet")
        write_table(recommendation_table(calls, kb()), "recommendations", out / "recommendations.parquet")
    except PgxError:
        return "pgx_error"
    return "result"


# --- outside-call grammar ----------------------------------------------------------------

_GENES = st.sampled_from(["CYP2D6", "CYP2C19", "HLA-B", "HLA-A", "DPYD", "MT-RNR1", "TPMT", "NOPE", "cyp2d6", ""])
_DIPLOTYPES = st.one_of(
    st.sampled_from(
        [
            "*1/*2",
            "*1/*2x2",
            "*2xN/*4",
            "*1x≥3/*1",
            "*1x>=3/*4",
            "*4x0/*1",
            "*57:01/*08:01",
            "*31:01",
            "*1",
            "m.1555A>G",
            "Reference/c.1905+1G>A (*2A)",
            "*1/*2/*3",
            "/",
            "*999/*1",
            "*1x99999999999/*2",
            "",
        ]
    ),  # fmt: skip
    st.text(max_size=15),
)
_PHENOTYPES = st.one_of(
    st.sampled_from(["Poor Metabolizer", "Ultrarapid Metabolizer", "normal", "", "Indeterminate"]), st.text(max_size=10)
)
_SCORES = st.one_of(st.sampled_from(["1.5", "≥3.0", "-1", "nan", "inf", "1e309", "", "0"]), st.text(max_size=6))


@st.composite
def outside_call_files(draw) -> bytes:
    columns = draw(
        st.permutations(["sample_id", "gene", "diplotype", "phenotype", "activity_score"]).map(list)
        | st.lists(st.sampled_from(["sample_id", "gene", "diplotype", "phenotype", "activity_score", "junk", ""]), max_size=6)
    )
    rows = []
    for _ in range(draw(st.integers(0, 8))):
        row = []
        for col in columns:
            strategy = {
                "sample_id": st.sampled_from(["S1", "S2", "HG00096", "ghost", ""]) | sample_ids,
                "gene": _GENES,
                "diplotype": _DIPLOTYPES,
                "phenotype": _PHENOTYPES,
                "activity_score": _SCORES,
            }.get(col, st.text(max_size=5))
            row.append(draw(strategy))
        rows.append(row)
    sep = draw(st.sampled_from(["\t", "\t", ",", " "]))
    lines = [sep.join(columns)] + [sep.join(r) for r in rows]
    data = ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 8)) == 0:
        i = draw(st.integers(0, max(len(data) - 1, 0)))
        data = data[:i] + bytes([draw(st.integers(0, 255))]) + data[i + 1 :]
    return data


@lru_cache(maxsize=1)
def base_calls():
    """Calls of two simulated samples (S1, S2), to apply outside calls to."""
    import tempfile

    from pgx.calling import call_diplotypes
    from pgx.phenotype import assign_phenotypes
    from pgx.simulate import write_cohort
    from pgx.vcf import read_genotypes

    genes = ["CYP2D6", "CYP2C19", "DPYD", "TPMT", "MT-RNR1"]
    folder = Path(tempfile.mkdtemp(prefix="pgx-fuzz-"))
    assignment = {
        s: {
            g: ("m.1555A>G", "m.1555A>G") if g == "MT-RNR1" else ("Reference", "Reference") if g == "DPYD" else ("*1", "*1")
            for g in genes
        }
        for s in ("S1", "S2")
    }
    vcf, _ = write_cohort(kb(), assignment, folder)
    gm = read_genotypes([vcf], kb().loci(genes))
    return assign_phenotypes(call_diplotypes(gm, kb(), genes), kb())


def check_outside_calls(path: Path, out: Path) -> str:
    """Read one outside-call file, apply it to two samples' calls, look up their
    recommendations and write the tables; ``"result"`` or ``"pgx_error"``."""
    from pgx.errors import PgxError
    from pgx.outputs import write_table
    from pgx.outside import apply_outside_calls, read_outside_calls
    from pgx.recommend import recommendation_table

    try:
        outside = read_outside_calls(path)
        calls = apply_outside_calls(base_calls(), outside, kb())
        write_table(calls, "calls", out / "calls.parquet")
        write_table(recommendation_table(calls, kb()), "recommendations", out / "recommendations.parquet")
    except PgxError:
        return "pgx_error"
    return "result"
