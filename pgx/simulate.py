"""Synthetic patients with known diplotypes, built from the knowledge base.

Each simulated sample carries two alleles per gene. A haplotype is the allele's
definition over the gene's core loci with the reference allele filling the blanks,
exactly the semantics the matcher applies, so matching the VCF should give back the
truth (or a tie that includes it, where two alleles cannot be told apart). Choices:

* Callable alleles are the gene's non-structural alleles with at least one definition.
* An IUPAC wobble cell (``Y`` = C or T) becomes one concrete base that is both allowed
  by the code and listed at the locus (REF or an ALT), drawn once per allele and locus
  from the seeded generator.
* The VCF (VCFv4.2, ``chr`` contigs with GRCh38 lengths, ``##source=pgx simulate``,
  FORMAT ``GT`` only) has a record for every core and extra locus of the genes, even
  when every sample is reference there, so no KB position is missing. Loci of
  several genes at one POS become a single multi-allelic record.
* ``truth.tsv`` gives sample_id, gene, diplotype, allele_1, allele_2 with the two
  alleles in the canonical order of :mod:`pgx.naming` (``*1/*17``).
* Mitochondrial genes (MT-RNR1, gene rule ``mitochondrial``) are one haplotype: a
  sample carries one allele (both haplotype slots hold it), its chrM records are
  written haploid (``1``) or, with ``mito_ploidy="diploid"``, homoplasmic diploid
  (``1/1``, as many callers write chrM), and its truth row is that one allele
  (``allele_2`` empty).

* ``showcase=True`` adds the patients of :data:`SHOWCASE` after the random ones: each
  shows one case a new user should see in the demo (a DPYD carrier, an unphased CYP2D6
  tie, a no-call with its reason, CYP2D6 copy number and HLA types from outside calls,
  an ID with a space and an apostrophe). Their outside calls go to ``outside_calls.tsv``.

Everything is deterministic for a seed: the same call writes byte-identical files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pgx.builds import GRCH38, LENGTHS, is_mito_contig
from pgx.errors import KnowledgeBaseError
from pgx.kb import KnowledgeBase
from pgx.naming import IUPAC, format_diplotype, sort_alleles
from pgx.outputs import atomic_indexed, atomic_path

GRCH38_LENGTHS = LENGTHS[GRCH38]

VCF_NAME = "simulated.vcf.gz"
TRUTH_NAME = "truth.tsv"
OUTSIDE_NAME = "outside_calls.tsv"
TRUTH_COLUMNS = ["sample_id", "gene", "diplotype", "allele_1", "allele_2"]

Assignment = Mapping[str, Mapping[str, tuple[str, str]]]  # sample -> gene -> (haplotype 1, haplotype 2)


# --- showcase patients ------------------------------------------------------------------


@dataclass(frozen=True)
class Showcase:
    """A synthetic patient who shows one case: random alleles like the others, except
    ``alleles`` (gene -> the two alleles); ``unphased`` writes every genotype unphased;
    ``missing`` positions (gene, GRCh38 position) are written ``./.``; ``outside`` calls
    (gene, diplotype) go to the outside-call file."""

    sample_id: str
    shows: str
    alleles: tuple[tuple[str, tuple[str, str]], ...] = ()
    unphased: bool = False
    missing: tuple[tuple[str, int], ...] = ()
    outside: tuple[tuple[str, str], ...] = ()


SHOWCASE = (
    Showcase(
        "DEMO-DPYD-carrier", "a DPYD c.1905+1G>A (*2A) carrier: fluoropyrimidine doses reduced",
        alleles=(("DPYD", ("Reference", "c.1905+1G>A (*2A)")),),
    ),
    Showcase(
        "DEMO-CYP2D6-unphased-tie", "unphased genotypes that two CYP2D6 diplotypes explain equally (*2/*10, *39/*65)",
        alleles=(("CYP2D6", ("*2", "*10")),), unphased=True,
    ),
    Showcase(
        "DEMO-NAT2-no-call", "NAT2 not called: a position it cannot be called without is missing (./.)",
        missing=(("NAT2", 18400194),),
    ),
    Showcase(
        "DEMO-CYP2D6-copy-number", "CYP2D6 *1/*2x2 from a copy-number assay (outside call): an ultrarapid metabolizer",
        outside=(("CYP2D6", "*1/*2x2"),),
    ),
    Showcase(
        "Patient 12 (O'Brien)", "HLA-B*57:01 and HLA-A*31:01 from an HLA typing (outside calls); an ID with a space and an apostrophe",
        outside=(("HLA-B", "*57:01/*08:01"), ("HLA-A", "*31:01/*02:01")),
    ),
)  # fmt: skip


def add_showcase(
    kb: KnowledgeBase, assignment: dict[str, dict[str, tuple[str, str]]], rng: np.random.Generator, *, known_function: bool
) -> None:
    """Add the :data:`SHOWCASE` patients to ``assignment`` (in place): random alleles for
    the genes drawn, then each one's own alleles for the genes it names."""
    genes = sorted(next(iter(assignment.values()))) if assignment else []
    drawn = draw_assignment(kb, genes, len(SHOWCASE), rng, known_function=known_function) if genes else {}
    for case, random_alleles in zip(SHOWCASE, drawn.values() if drawn else [{}] * len(SHOWCASE)):
        alleles = dict(random_alleles)
        alleles.update((g, pair) for g, pair in case.alleles if g in alleles)
        assignment[case.sample_id] = alleles


def outside_frame(samples: Sequence[str]) -> pd.DataFrame:
    """The outside calls of the :data:`SHOWCASE` patients among ``samples``."""
    rows = [(c.sample_id, g, d) for c in SHOWCASE if c.sample_id in samples for g, d in c.outside]
    return pd.DataFrame(rows, columns=["sample_id", "gene", "diplotype"])


# --- alleles --------------------------------------------------------------------------


def callable_alleles(kb: KnowledgeBase, gene: str) -> list[str]:
    """Alleles of ``gene`` a VCF can carry: non-structural with definitions, canonical order."""
    alleles = kb.table("alleles", gene)
    defined = set(kb.table("allele_definitions", gene)["allele"])
    names = alleles.loc[~alleles["is_structural"].astype(bool), "allele"]
    return sort_alleles(a for a in names if a in defined)


def reference_allele(kb: KnowledgeBase, gene: str) -> str:
    """The gene's reference allele name."""
    return kb.table("genes", gene)["reference_allele"].item()


def all_pairs(kb: KnowledgeBase, gene: str) -> list[tuple[str, str]]:
    """Every (allele, reference) and (allele, allele) pair of ``gene``'s callable alleles
    (a mitochondrial gene: every callable allele as (allele, allele), its one haplotype).

    Round-trip tests simulate each of these to check that every allele is called when
    heterozygous with the reference and when homozygous.
    """
    ref = reference_allele(kb, gene)
    if gene in kb.mito_genes:
        return [(allele, allele) for allele in callable_alleles(kb, gene)]
    pairs: list[tuple[str, str]] = []
    for allele in callable_alleles(kb, gene):
        if allele != ref:
            pairs.append((allele, ref))
        pairs.append((allele, allele))
    return pairs


# --- haplotypes -----------------------------------------------------------------------


@dataclass(frozen=True)
class GeneHaplotypes:
    """Allele codes per callable allele over one gene's loci (0 = REF, i = i-th ALT)."""

    gene: str
    alleles: list[str]
    loci: pd.DataFrame  # core + extra loci, sorted by position
    codes: np.ndarray  # int16 [n_alleles, n_loci]


def concrete_allele(bases: str, ref: str, alts: list[str], rng: np.random.Generator) -> str:
    """The VCF allele a definition cell stands for; an IUPAC code becomes one listed base."""
    if bases == ref or bases in alts:
        return bases
    options = [b for b in [ref, *alts] if len(b) == 1 and b in IUPAC.get(bases, "")]
    if not options:
        raise KnowledgeBaseError(f"definition {bases!r} matches none of REF/ALT {ref}/{','.join(alts)}")
    return options[int(rng.integers(len(options)))]


def gene_haplotypes(kb: KnowledgeBase, gene: str, rng: np.random.Generator) -> GeneHaplotypes:
    """Each callable allele of ``gene`` as allele codes over its core and extra loci."""
    loci = kb.loci([gene], roles=("core", "extra"))
    alleles = callable_alleles(kb, gene)
    defs = kb.table("allele_definitions", gene)
    cells = {(a, int(p)): b for a, p, b in zip(defs["allele"], defs["pos"], defs["bases"])}
    ref_name = reference_allele(kb, gene)
    codes = np.zeros((len(alleles), len(loci)), dtype=np.int16)
    for j, locus in enumerate(loci.itertuples(index=False)):
        if locus.role != "core":
            continue  # extra loci are reported only: simulated as reference
        alts = [a for a in str(locus.alts).split(",") if a]
        order = [locus.ref, *alts]
        fill = cells.get((ref_name, int(locus.pos)), locus.ref)
        for i, allele in enumerate(alleles):
            bases = cells.get((allele, int(locus.pos)), fill)
            codes[i, j] = order.index(concrete_allele(bases, locus.ref, alts, rng))
    return GeneHaplotypes(gene, alleles, loci, codes)


# --- cohorts --------------------------------------------------------------------------


def sample_ids(n: int) -> list[str]:
    """``SIM0001`` ... zero-padded to at least four digits."""
    width = max(4, len(str(n)))
    return [f"SIM{i:0{width}d}" for i in range(1, n + 1)]


def known_function_alleles(kb: KnowledgeBase, gene: str) -> list[str]:
    """Callable alleles with a known function (and an activity value on score genes),
    so simulated patients get a phenotype a clinician can act on."""
    tab = kb.table("alleles", gene).set_index("allele")
    score_gene = kb.table("genes", gene)["lookup_method"].item() == "activity_score"
    keep = []
    for name in callable_alleles(kb, gene):
        function = tab.at[name, "function"]
        if not function or function.lower().startswith(("uncertain", "unknown")):
            continue
        if score_gene and pd.isna(tab.at[name, "activity_value"]):
            continue
        keep.append(name)
    return keep


def draw_assignment(
    kb: KnowledgeBase, genes: Sequence[str], n: int, rng: np.random.Generator, *, known_function: bool = False
) -> dict[str, dict[str, tuple[str, str]]]:
    """``n`` samples, each with two callable alleles per gene drawn uniformly (only
    alleles of known function when ``known_function``)."""
    samples = sample_ids(n)
    out: dict[str, dict[str, tuple[str, str]]] = {s: {} for s in samples}
    for gene in genes:
        names = known_function_alleles(kb, gene) if known_function else callable_alleles(kb, gene)
        if not names:
            raise KnowledgeBaseError(f"{gene} has no callable alleles to simulate")
        draws = rng.integers(len(names), size=(n, 2))
        if gene in kb.mito_genes:
            draws[:, 1] = draws[:, 0]  # one mtDNA haplotype
        for sample, (a, b) in zip(samples, draws):
            out[sample][gene] = (names[a], names[b])
    return out


def simulate_cohort(
    kb: KnowledgeBase,
    genes: Sequence[str],
    n: int,
    out_dir: Path,
    *,
    phased: bool = True,
    seed: int = 0,
    known_function: bool = False,
    mito_ploidy: str = "haploid",
    showcase: bool = False,
) -> tuple[Path, Path]:
    """Write ``n`` random synthetic patients as ``simulated.vcf.gz`` (+ .tbi) and ``truth.tsv``
    (and, with ``showcase``, the :data:`SHOWCASE` patients and their ``outside_calls.tsv``)."""
    if n < 1:
        raise ValueError("n must be at least 1")
    rng = np.random.default_rng(seed)
    genes = sorted(dict.fromkeys(genes))
    assignment = draw_assignment(kb, genes, n, rng, known_function=known_function)
    if not showcase:
        return write_cohort(kb, assignment, out_dir, phased=phased, seed=seed, mito_ploidy=mito_ploidy)
    add_showcase(kb, assignment, rng, known_function=known_function)
    cases = {c.sample_id: c for c in SHOWCASE}
    unphased = {c.sample_id for c in SHOWCASE if c.unphased}
    missing = {c.sample_id: set(c.missing) for c in SHOWCASE if c.missing}
    out = write_cohort(
        kb, assignment, out_dir, phased=phased, seed=seed, mito_ploidy=mito_ploidy, unphased=unphased, missing=missing
    )
    frame = outside_frame(list(cases))
    with atomic_path(Path(out_dir) / OUTSIDE_NAME) as tmp:
        frame.to_csv(tmp, sep="\t", index=False, lineterminator="\n")
    return out


MITO_PLOIDIES = ("haploid", "diploid")


def write_cohort(
    kb: KnowledgeBase,
    assignment: Assignment,
    out_dir: Path,
    *,
    phased: bool = True,
    seed: int = 0,
    mito_ploidy: str = "haploid",
    unphased: set[str] = frozenset(),
    missing: Mapping[str, set[tuple[str, int]]] | None = None,
) -> tuple[Path, Path]:
    """Write given diplotypes (sample -> gene -> (hap 1, hap 2)) as VCF + truth; return both paths.

    Every sample must list the same genes. ``seed`` drives the IUPAC base choices.
    ``mito_ploidy`` writes chrM genotypes as ``1`` (haploid) or ``1/1`` (diploid).
    Samples in ``unphased`` are written unphased whatever ``phased`` says; ``missing``
    names per sample (gene, position) cells written ``./.``.
    """
    if mito_ploidy not in MITO_PLOIDIES:
        raise ValueError(f"mito_ploidy must be one of {', '.join(MITO_PLOIDIES)}, not {mito_ploidy!r}")
    samples = list(assignment)
    if not samples:
        raise ValueError("no samples to write")
    genes = sorted(assignment[samples[0]])
    for sample in samples:
        if sorted(assignment[sample]) != genes:
            raise ValueError(f"sample {sample} lists genes {sorted(assignment[sample])}, expected {genes}")
    rng = np.random.default_rng([seed, 1])  # separate stream from the draws
    haplotypes = [gene_haplotypes(kb, gene, rng) for gene in genes]
    loci, codes = genotype_codes(haplotypes, assignment, samples)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    mito = [g for g in genes if g in kb.mito_genes]
    for sample in samples:
        for gene in mito:
            a, b = assignment[sample][gene]
            if a != b:
                raise ValueError(f"sample {sample}: {gene} is one haplotype, got two alleles {a} and {b}")
    phasing = np.array([phased and s not in unphased for s in samples], dtype=bool)
    blanks = np.zeros(codes.shape[:2], dtype=bool)
    for i, sample in enumerate(samples):
        for gene, pos in (missing or {}).get(sample, ()):
            hit = (loci["gene"] == gene).to_numpy() & (loci["pos"].astype(int) == int(pos)).to_numpy()
            if not hit.any():
                raise KnowledgeBaseError(f"{gene} has no knowledge-base position {pos} to write as missing")
            blanks[i, hit] = True
    text = vcf_text(loci, codes, samples, phasing, haploid_mito=mito_ploidy == "haploid", missing=blanks)
    vcf = write_vcf(text, out_dir / VCF_NAME)
    truth = write_truth(
        truth_frame(assignment, samples, genes, haploid=set(mito), names=reported_names(kb)), out_dir / TRUTH_NAME
    )
    return vcf, truth


def reported_names(kb: KnowledgeBase) -> dict[tuple[str, str], str]:
    """(gene, allele) -> the name a call reports it under (``alleles.guideline_name``), where they differ."""
    tab = kb.tables["alleles"]
    if "guideline_name" not in tab:
        return {}
    return {
        (g, a): n for g, a, n in zip(tab["gene"], tab["allele"], tab["guideline_name"]) if isinstance(n, str) and n and n != a
    }


def genotype_codes(
    haplotypes: list[GeneHaplotypes], assignment: Assignment, samples: list[str]
) -> tuple[pd.DataFrame, np.ndarray]:
    """All genes' loci (concatenated) and codes int16 [n_samples, n_loci, 2]."""
    parts = []
    for hap in haplotypes:
        index = {a: i for i, a in enumerate(hap.alleles)}
        try:
            chosen = np.array([[index[a] for a in assignment[s][hap.gene]] for s in samples])
        except KeyError as exc:
            raise KnowledgeBaseError(f"{hap.gene} has no callable allele {exc.args[0]}") from None
        parts.append(np.transpose(hap.codes[chosen], (0, 2, 1)))  # [S, 2, L] -> [S, L, 2]
    loci = pd.concat([h.loci for h in haplotypes], ignore_index=True)
    return loci, np.concatenate(parts, axis=1)


# --- VCF ------------------------------------------------------------------------------


def chrom_order(chrom: str) -> tuple[int, str]:
    """Sort key: chr1..chr22, chrX, chrY, chrM, then any other name."""
    names = list(GRCH38_LENGTHS)
    return (names.index(chrom), "") if chrom in names else (len(names), chrom)


def merge_records(loci: pd.DataFrame) -> list[dict]:
    """One VCF record per (chrom, pos), each with a code map from every locus it holds.

    Loci at the same POS with different REF lengths are joined on the longest REF: the
    shorter one's ALTs get the rest of that REF appended, so they name the same bases.
    """
    records: dict[tuple[str, int], dict] = {}
    for j, locus in enumerate(loci.itertuples(index=False)):
        key = (locus.chrom, int(locus.pos))
        rec = records.setdefault(key, {"chrom": key[0], "pos": key[1], "members": []})
        rec["members"].append((j, locus.ref, [a for a in str(locus.alts).split(",") if a], locus.rsid))
    out = []
    for key in sorted(records, key=lambda k: (chrom_order(k[0]), k[1])):
        out.append(_joined_record(records[key]))
    return out


def _joined_record(rec: dict) -> dict:
    ref = max((m[1] for m in rec["members"]), key=len)
    alts: list[str] = []
    maps: dict[int, list[int]] = {}
    for j, mref, malts, _ in rec["members"]:
        if not ref.startswith(mref):
            raise KnowledgeBaseError(f"loci at {rec['chrom']}:{rec['pos']} disagree on REF ({mref} vs {ref})")
        tail = ref[len(mref) :]
        code_map = [0]
        for alt in malts:
            full = alt + tail
            if full not in alts:
                alts.append(full)
            code_map.append(alts.index(full) + 1)
        maps[j] = code_map
    ids = sorted({m[3] for m in rec["members"] if m[3]})
    return {**rec, "ref": ref, "alts": alts, "maps": maps, "id": ";".join(ids) or "."}


def vcf_header(chroms: list[str], samples: list[str]) -> list[str]:
    """Header lines: format, source, contigs used (GRCh38 lengths), GT, column line."""
    lines = ["##fileformat=VCFv4.2", "##source=pgx simulate"]
    for chrom in chroms:
        length = GRCH38_LENGTHS.get(chrom)
        lines.append(f"##contig=<ID={chrom},length={length},assembly=GRCh38>" if length else f"##contig=<ID={chrom}>")
    lines.append('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
    lines.append("\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *samples]))
    return lines


def gt_strings(n_codes: int, phased: bool) -> np.ndarray:
    """Lookup table [a, b] -> ``a|b`` (phased) or ``min/max`` (unphased)."""
    table = np.empty((n_codes, n_codes), dtype=object)
    for a in range(n_codes):
        for b in range(n_codes):
            table[a, b] = f"{a}|{b}" if phased else f"{min(a, b)}/{max(a, b)}"
    return table


def vcf_text(
    loci: pd.DataFrame,
    codes: np.ndarray,
    samples: list[str],
    phased: bool | np.ndarray,
    *,
    haploid_mito: bool = True,
    missing: np.ndarray | None = None,
) -> str:
    """The whole VCF as text (records sorted by contig then position); chrM genotypes are
    one allele when ``haploid_mito``. ``phased`` is one flag or one per sample;
    ``missing`` (bool [samples, loci]) cells are written ``./.`` (``.`` haploid)."""
    records = merge_records(loci)
    chroms = list(dict.fromkeys(r["chrom"] for r in records))
    lines = vcf_header(chroms, samples)
    phasing = np.broadcast_to(np.asarray(phased, dtype=bool), (len(samples),))
    for rec in records:
        merged = np.zeros((len(samples), 2), dtype=np.int16)
        for j, code_map in rec["maps"].items():
            mapped = np.asarray(code_map, dtype=np.int16)[codes[:, j, :]]
            merged = np.where(mapped > 0, mapped, merged)  # a locus's non-REF allele wins
        haploid = haploid_mito and is_mito_contig(rec["chrom"])
        if haploid:
            gts = merged[:, 0].astype(str).astype(object)
        else:
            n_codes = len(rec["alts"]) + 1
            gts = np.where(
                phasing,
                gt_strings(n_codes, True)[merged[:, 0], merged[:, 1]],
                gt_strings(n_codes, False)[merged[:, 0], merged[:, 1]],
            )
        if missing is not None:
            blank = missing[:, list(rec["maps"])].any(axis=1)
            gts = np.where(blank, "." if haploid else "./.", gts)
        lines.append(
            "\t".join([rec["chrom"], str(rec["pos"]), rec["id"], rec["ref"], ",".join(rec["alts"]), ".", "PASS", ".", "GT", *gts])
        )
    return "\n".join(lines) + "\n"


def write_vcf(text: str, path: Path) -> Path:
    """bgzip ``text`` to ``path`` and tabix-index it (``.tbi``), via temporary names then rename.

    Compression and indexing go through :func:`pgx.vcf.bgzip_vcf`, the project's one
    user of pysam.
    """
    from pgx.vcf import bgzip_vcf

    with atomic_indexed(path) as staged:
        plain = staged.with_name(staged.name + ".vcf")
        plain.write_text(text)
        bgzip_vcf(plain, staged, index="tbi")
    return path


# --- truth ----------------------------------------------------------------------------


def truth_frame(
    assignment: Assignment,
    samples: list[str],
    genes: list[str],
    haploid: set[str] = frozenset(),
    names: dict[tuple[str, str], str] | None = None,
) -> pd.DataFrame:
    """One row per sample and gene, alleles in canonical order (``haploid`` genes: one
    allele), under the names calls report them (``names``: (gene, allele) -> name)."""
    names = names or {}
    rows = []
    for sample in samples:
        for gene in genes:
            if gene in haploid:
                a = assignment[sample][gene][0]
                a = names.get((gene, a), a)
                rows.append({"sample_id": sample, "gene": gene, "diplotype": a, "allele_1": a, "allele_2": ""})
                continue
            a, b = sort_alleles(names.get((gene, x), x) for x in assignment[sample][gene])
            rows.append({"sample_id": sample, "gene": gene, "diplotype": format_diplotype(a, b), "allele_1": a, "allele_2": b})
    return pd.DataFrame(rows, columns=TRUTH_COLUMNS)


def write_truth(frame: pd.DataFrame, path: Path) -> Path:
    """Write the truth TSV atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, sep="\t", index=False, lineterminator="\n")
    return path
