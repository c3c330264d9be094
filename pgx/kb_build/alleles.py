"""Genes, loci, allele definitions and allele functions from PharmCAT's definition files.

Everything here is generic over ``pharmcat/alleles/<GENE>_translation.json`` (positions
and named-allele definitions), ``pharmcat/alleles/exemptions.json`` (extra and ignored
positions), ``pharmcat/phenotype/<GENE>.json`` or, for genes whose current file is not
mirrored, ``pharmcat/phenotype-older/<GENE>.json`` (allele function and activity value),
``cpic/gene.json`` (lookup method, chromosome), ``pypgx/allele-table.csv`` (fallback
functions, structural-variant flags) and ``pypgx/variant-table.csv`` (GRCh37 positions).
No gene is named in this module: adding a gene means adding it to the list given to
:func:`pgx.kb_build.build_kb`.

Two kinds of gene:

* **VCF genes** have a PharmCAT definition file; their alleles are matched in a VCF.
* **Outside-call genes** (HLA-A, HLA-B, MT-RNR1) have none. A gene without a definition
  file must be known to CPIC's ``gene.json``, otherwise the build stops (a typo must
  not become an empty gene). Its ``genes`` row says ``called_from=outside``; it has no
  loci or definitions; the alleles its phenotype file names (MT-RNR1) are listed with
  their functions so an outside call can be phenotyped. The allele named ``Reference``
  (PharmCAT's name) is its reference allele.

Decisions (each keeps a fact exactly as the source states it):

* Definitions are the translation file's ``alleles`` cells, which are already VCF
  alleles (``cpicToVcfAlleleMap`` applied, indels with their padding base), or IUPAC
  codes for SNVs. A null cell is not written: it means "the reference allele's base".
  The reference allele is whatever the file flags ``reference`` (CYP2C19 ``*38``), and
  an allele the file fully specifies (CYP2C19 ``*1``) stays fully specified.
* A variant listed in ``ignoredPositions`` gets a locus row with role ``ignored`` and
  no definition cells, because PharmCAT does not match on it. "Listed" means the same
  variant (position, REF, ALTs): an ignored deletion whose padding base is the position
  of a defining SNV leaves that SNV core (see :func:`ignored_positions`).
* ``alleles`` lists the alleles the translation file defines, plus the **structural
  alleles** only the phenotype file knows: copy-number forms of a known allele
  (CYP2D6 ``*1x2``, ``*1x≥3``) and names PyPGx's allele table flags ``SV`` (deletions
  and hybrids: CYP2D6 ``*5``, ``*13``; CYP2C19 ``*36``). They are ``is_structural``, have
  no definitions (a VCF of SNVs and indels cannot see them; the matcher skips them) and
  carry their phenotype-file function so outside calls can use them. Other names only
  the phenotype file knows (renamed or retired alleles, e.g. G6PD ``Telti/Kobe`` now
  ``Telti, Kobe``, SLCO1B1 ``*45`` now ``*45.001``/``*45.002``) are left out and listed
  in the manifest's audit section.
* ``function`` is the phenotype file's ``functionValue`` (or its ``haplotypes`` value
  when the file has no ``namedAlleles`` and is not an activity-score file). Where the
  phenotype files give none, PyPGx's allele table may fill it (see
  :func:`pypgx_function_fills`); otherwise the function stays empty, never guessed.
* ``activity_value`` is the phenotype file's number. CPIC writes the activity of an
  allele with three or more copies as a lower bound (``≥3.0``); that is not a number, so
  ``activity_value`` stays empty and the text goes to the ``outside_results`` table
  (kind ``allele_activity``), see :mod:`pgx.kb_build.outside_results`.
* ``grch37_pos`` is joined from PyPGx's variant table on (chromosome, GRCh38 position),
  only when both sources agree on the reference base there. An indel PyPGx writes at
  another (not left-aligned) position stays empty rather than being shifted by hand.
* ``ref_context`` is derived from facts already in the row: for an indel, the VCF alleles
  are left-aligned and the HGVS name is 3'-aligned, so the reference bases between the
  two placements repeat the inserted or deleted sequence (``g.233760235TA[7]`` with
  ``CAT`` gives ``CATATATATATATATA`` for UGT1A1). It is empty when that adds nothing to
  REF (SNVs, indels that cannot slide). The reader uses it to recognise an indel written
  at another position of its repeat (:mod:`pgx.normalize`). An HGVS name that
  contradicts the alleles stops the build.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from pgx.errors import KnowledgeBaseError
from pgx.naming import IUPAC
from pgx.normalize import ContextError, context_from_hgvs
from pgx.kb_build.sources import SourceReader

EXEMPTIONS = "pharmcat/alleles/exemptions.json"
CPIC_GENES = "cpic/gene.json"
PYPGX_VARIANTS = "pypgx/variant-table.csv"
PYPGX_ALLELES = "pypgx/allele-table.csv"

#: the name PharmCAT gives the reference allele of variant-named genes without a definition file
OUTSIDE_REFERENCE_NAME = "Reference"

_CPIC_LOOKUP = {"ACTIVITY_SCORE": "activity_score", "PHENOTYPE": "phenotype", "ALLELE_STATUS": "allele_status"}

#: an activity value written as a lower bound (``≥3.0``: three or more gene copies)
LOWER_BOUND = re.compile(r"^≥\d+(?:\.\d+)?$")
#: a copy-number form of an allele: ``*1x2``, ``*1x≥3``, ``*41x3``
COPY_NUMBER = re.compile(r"^(?P<base>.+?)x(?P<copies>≥?\d+)$")
#: a PharmVar suballele: ``*45.001`` is a sequence form of star allele ``*45``
SUBALLELE = re.compile(r"^(?P<parent>\*\d+)\.\d+$")


def translation_path(gene: str) -> str:
    """Path (relative to the sources) of ``gene``'s PharmCAT definition file."""
    return f"pharmcat/alleles/{gene}_translation.json"


def phenotype_path(reader: SourceReader, gene: str) -> str | None:
    """The phenotype file for ``gene``: current if mirrored, else the older copy, else None.

    PharmCAT names files by gene with ``-`` replaced by ``_`` (``MT_RNR1.json``).
    """
    for folder in ("phenotype", "phenotype-older"):
        rel = f"pharmcat/{folder}/{gene.replace('-', '_')}.json"
        if reader.exists(rel):
            return rel
    return None


@dataclass(frozen=True)
class GeneSources:
    """The parsed upstream files that describe one gene."""

    gene: str
    translation: dict | None  # None for an outside-call gene (no PharmCAT definition file)
    phenotype: dict | None  # None when no phenotype file exists for the gene
    exemptions: dict  # this gene's entry of exemptions.json ({} when absent)
    cpic_gene: dict | None  # this gene's row of cpic/gene.json
    phenotype_path: str | None = None  # where ``phenotype`` came from (for notes)

    @property
    def called_from(self) -> str:
        return "vcf" if self.translation is not None else "outside"


def read_gene_sources(reader: SourceReader, genes: Iterable[str]) -> list[GeneSources]:
    """Read and sanity-check every source file for ``genes``."""
    exemptions = reader.json(EXEMPTIONS)
    cpic = {row["symbol"]: row for row in reader.json(CPIC_GENES)}
    out = []
    for gene in genes:
        translation = None
        if reader.exists(translation_path(gene)):
            translation = reader.json(translation_path(gene))
            check_translation(gene, translation)
        elif gene not in cpic:
            raise KnowledgeBaseError(
                f"{gene}: no PharmCAT definition file ({translation_path(gene)}) and not a gene of "
                f"{CPIC_GENES}; is the gene name right?"
            )
        pheno_rel = phenotype_path(reader, gene)
        phenotype = reader.json(pheno_rel) if pheno_rel else None
        if phenotype is not None and phenotype.get("gene") not in (None, gene):
            raise KnowledgeBaseError(f"{pheno_rel} is for gene {phenotype.get('gene')!r}, expected {gene}")
        out.append(GeneSources(gene, translation, phenotype, exemptions.get(gene, {}), cpic.get(gene), pheno_rel))
    return out


def check_translation(gene: str, translation: dict) -> None:
    """Fail on a definition file the builder cannot read faithfully."""
    where = f"{translation_path(gene)}"
    if translation.get("gene") != gene:
        raise KnowledgeBaseError(f"{where} is for gene {translation.get('gene')!r}, expected {gene}")
    positions = [v["position"] for v in translation["variants"]]
    if len(set(positions)) != len(positions):
        raise KnowledgeBaseError(f"{where} lists a position twice")
    names = [a["name"] for a in translation["namedAlleles"]]
    if len(set(names)) != len(names):
        raise KnowledgeBaseError(f"{where} names an allele twice")
    refs = [a["name"] for a in translation["namedAlleles"] if a.get("reference")]
    if len(refs) != 1:
        raise KnowledgeBaseError(f"{where} flags {len(refs)} reference alleles ({refs}); expected exactly one")
    for allele in translation["namedAlleles"]:
        if len(allele["alleles"]) != len(positions):
            raise KnowledgeBaseError(
                f"{where}: {allele['name']} has {len(allele['alleles'])} cells for {len(positions)} positions"
            )


# --- genes ----------------------------------------------------------------------------


def has_activity_values(phenotype: dict | None) -> bool:
    """True when the phenotype file gives alleles activity values (activity-score gene)."""
    return bool(phenotype and phenotype.get("activityValues"))


def lookup_method(src: GeneSources) -> str:
    """``activity_score`` / ``phenotype`` / ``allele_status``, CPIC's and PharmCAT's agreeing.

    CPIC's ``gene.json`` names the method; the phenotype file independently shows it
    (activity values present or not). A disagreement is an error, not a choice.
    """
    from_file = "activity_score" if has_activity_values(src.phenotype) else "phenotype"
    if src.cpic_gene is None or not src.cpic_gene.get("lookupmethod"):
        return from_file
    from_cpic = _CPIC_LOOKUP.get(src.cpic_gene["lookupmethod"])
    if from_cpic is None:
        raise KnowledgeBaseError(f"{CPIC_GENES}: unknown lookupmethod {src.cpic_gene['lookupmethod']!r} for {src.gene}")
    if src.phenotype is not None and (from_cpic == "activity_score") != (from_file == "activity_score"):
        raise KnowledgeBaseError(
            f"{src.gene}: CPIC lookup method is {from_cpic} but the PharmCAT phenotype file "
            f"{'has' if from_file == 'activity_score' else 'has no'} activity values"
        )
    return from_cpic


def reference_allele(src: GeneSources) -> str:
    """Name of the reference allele: flagged in the definition file, or ``Reference`` for
    an outside-call gene whose phenotype file names one (empty otherwise: HLA)."""
    if src.translation is not None:
        return next(a["name"] for a in src.translation["namedAlleles"] if a.get("reference"))
    return OUTSIDE_REFERENCE_NAME if OUTSIDE_REFERENCE_NAME in allele_facts(src.gene, src.phenotype) else ""


def gene_chrom(src: GeneSources) -> str:
    """The gene's chromosome: PharmCAT's and CPIC's must agree when both give one."""
    cpic_chrom = (src.cpic_gene or {}).get("chr") or ""
    if src.translation is None:
        if not cpic_chrom:
            raise KnowledgeBaseError(f"{CPIC_GENES} gives no chromosome for outside-call gene {src.gene}")
        return cpic_chrom
    chrom = src.translation["chromosome"]
    if cpic_chrom and cpic_chrom != chrom:
        raise KnowledgeBaseError(f"{src.gene}: PharmCAT says {chrom}, CPIC gene.json says {cpic_chrom}")
    return chrom


def gene_row(src: GeneSources) -> dict:
    """One ``genes`` row. ``source_version``: the definition file's version, else the
    phenotype file's, else empty (HLA: its vocabulary comes from unversioned CPIC tables).
    ``hgnc_id``: the gene's HGNC ID from CPIC's ``gene.json`` (``HGNC:2621``), the code
    the FHIR export gives the gene (empty when CPIC has none)."""
    version = (src.translation or src.phenotype or {}).get("version") or ""
    return {
        "gene": src.gene,
        "hgnc_id": (src.cpic_gene or {}).get("hgncid") or "",
        "chrom": gene_chrom(src),
        "lookup_method": lookup_method(src),
        "reference_allele": reference_allele(src),
        "called_from": src.called_from,
        "source_version": version,
    }


# --- loci -----------------------------------------------------------------------------

Grch37Index = dict[tuple[str, int], set[tuple[int, str]]]


def grch37_index(rows: Iterable[dict[str, str]]) -> Grch37Index:
    """(chromosome without ``chr``, GRCh38 pos) -> {(GRCh37 pos, GRCh38 reference allele)}."""
    index: Grch37Index = defaultdict(set)
    for row in rows:
        if row["GRCh38Position"].isdigit() and row["GRCh37Position"].isdigit():
            key = (row["Chromosome"], int(row["GRCh38Position"]))
            index[key].add((int(row["GRCh37Position"]), row["GRCh38Allele"]))
    return index


def grch37_position(index: Grch37Index, chrom: str, pos: int, ref: str) -> int | None:
    """GRCh37 position of a GRCh38 locus, when PyPGx lists that base with the same reference.

    Only rows whose reference allele starts with the same base count: both sources
    then describe the same genomic base, whatever the variant (an indel's padding base
    has the same GRCh37 offset as an SNV there).
    """
    hits = {p37 for p37, ref38 in index.get((chrom.removeprefix("chr"), pos), ()) if ref38[:1] == ref[:1]}
    if len(hits) > 1:
        raise KnowledgeBaseError(f"{PYPGX_VARIANTS} maps {chrom}:{pos} to several GRCh37 positions {sorted(hits)}")
    return hits.pop() if hits else None


def locus_row(gene: str, variant: dict, role: str, index: Grch37Index) -> dict:
    """One ``loci`` row from a PharmCAT VariantLocus object."""
    return {
        "gene": gene,
        "chrom": variant["chromosome"],
        "pos": int(variant["position"]),
        "ref": variant["ref"],
        "alts": ",".join(variant["alts"]),
        "rsid": variant.get("rsid") or "",
        "hgvs": variant.get("chromosomeHgvsName") or "",
        "role": role,
        "grch37_pos": grch37_position(index, variant["chromosome"], int(variant["position"]), variant["ref"]),
        "ref_context": reference_context(gene, variant),
    }


def reference_context(gene: str, variant: dict) -> str:
    """The reference bases an indel locus can slide over (see :func:`pgx.normalize.context_from_hgvs`)."""
    try:
        return context_from_hgvs(
            int(variant["position"]), variant["ref"], variant["alts"], variant.get("chromosomeHgvsName") or ""
        )
    except ContextError as exc:
        raise KnowledgeBaseError(f"{translation_path(gene)}: {variant['chromosome']}:{variant['position']}: {exc}") from exc


def _same_variant(a: dict, b: dict) -> bool:
    return int(a["position"]) == int(b["position"]) and a["ref"] == b["ref"] and list(a["alts"]) == list(b["alts"])


def ignored_positions(src: GeneSources) -> set[int]:
    """Definition positions whose variant PharmCAT's exemptions tell the matcher to ignore.

    An ignored VariantLocus counts only when it is the same variant (position, REF and
    ALTs) as the definition locus there. G6PD's ignored ``g.154532991_154532993delGGT``
    and RYR1's ``g.38580127del`` share their VCF position (the padding base) with an SNV
    that defines an allele (G6PD Chatham, RYR1 c.14509C>G); those SNVs stay core.
    """
    variants = {int(v["position"]): v for v in (src.translation or {}).get("variants", [])}
    return {
        int(v["position"])
        for v in src.exemptions.get("ignoredPositions", [])
        if int(v["position"]) in variants and _same_variant(v, variants[int(v["position"])])
    }


def shadowed_ignored_variants(src: GeneSources) -> list[str]:
    """Ignored variants that share their VCF position with a different definition variant.

    ``loci`` holds one row per position, so these have no row of their own; the
    manifest's audit lists them.
    """
    variants = {int(v["position"]): v for v in (src.translation or {}).get("variants", [])}
    return [
        f"{v['chromosome']}:{v['position']} {v.get('chromosomeHgvsName') or ''}".strip()
        for v in src.exemptions.get("ignoredPositions", [])
        if int(v["position"]) in variants and not _same_variant(v, variants[int(v["position"])])
    ]


def locus_rows(src: GeneSources, index: Grch37Index) -> list[dict]:
    """Core loci (every definition position), extra (reported only) and ignored loci."""
    if src.translation is None:
        return []
    ignored = ignored_positions(src)
    rows = {}
    for variant in src.translation["variants"]:
        role = "ignored" if int(variant["position"]) in ignored else "core"
        rows[int(variant["position"])] = locus_row(src.gene, variant, role, index)
    for role, key in (("extra", "extraPositions"), ("ignored", "ignoredPositions")):
        for variant in src.exemptions.get(key, []):
            pos = int(variant["position"])
            if role == "extra" and pos in rows:
                raise KnowledgeBaseError(f"{EXEMPTIONS}: extra position {pos} of {src.gene} is also a definition position")
            rows.setdefault(pos, locus_row(src.gene, variant, role, index))  # a shadowed ignored variant adds no row
    return [rows[p] for p in sorted(rows)]


# --- allele definitions ---------------------------------------------------------------


def check_bases(gene: str, allele: str, variant: dict, bases: str) -> None:
    """A definition cell must be the locus REF, one of its ALTs, or an IUPAC code over them."""
    known = [variant["ref"], *variant["alts"]]
    if bases in known:
        return
    if bases in IUPAC and all(b in known for b in IUPAC[bases]):
        return
    raise KnowledgeBaseError(
        f"{translation_path(gene)}: {allele} at {variant['position']} is {bases!r}, "
        f"which is neither REF/ALT ({','.join(known)}) nor an IUPAC code over them"
    )


def definition_rows(src: GeneSources) -> list[dict]:
    """One row per non-null cell of every named allele, minus ignored positions."""
    if src.translation is None:
        return []
    ignored = ignored_positions(src)
    rows = []
    variants = src.translation["variants"]
    for allele in src.translation["namedAlleles"]:
        for variant, bases in zip(variants, allele["alleles"]):
            if bases is None or int(variant["position"]) in ignored:
                continue
            check_bases(src.gene, allele["name"], variant, bases)
            rows.append({"gene": src.gene, "allele": allele["name"], "pos": int(variant["position"]), "bases": bases})
    return rows


# --- alleles (function, activity) -----------------------------------------------------


def parse_activity(value: object, where: str) -> float | None:
    """An activity value as a number; ``n/a``/empty/None mean "none given"."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "n/a")):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise KnowledgeBaseError(f"{where}: activity value {value!r} is not a number") from None
    if not math.isfinite(number):
        raise KnowledgeBaseError(f"{where}: activity value {value!r} is not finite") from None
    return number


def is_lower_bound(value: object) -> bool:
    """Is ``value`` an activity written as a lower bound (``≥3.0``)?"""
    return isinstance(value, str) and bool(LOWER_BOUND.match(value.strip()))


def _activity(value: object, where: str) -> float | None:
    """A number, or None for "none given" and for a lower bound (kept as text elsewhere)."""
    return None if is_lower_bound(value) else parse_activity(value, where)


def allele_facts(gene: str, phenotype: dict | None) -> dict[str, tuple[str | None, float | None]]:
    """allele -> (function, activity value) as the phenotype file states them.

    ``namedAlleles`` is the primary record; ``haplotypes`` and ``activityValues`` must
    agree with it (a disagreement raises). Files without ``namedAlleles`` (older
    format) give the function through ``haplotypes`` unless they are activity files.
    A lower-bound activity (``≥3.0``) gives activity None here; see
    :func:`lower_bound_activities`.
    """
    if phenotype is None:
        return {}
    where = f"phenotype file of {gene}"
    activity_file = has_activity_values(phenotype)
    activities = phenotype.get("activityValues") or {}
    facts: dict[str, tuple[str | None, float | None]] = {}
    for entry in phenotype.get("namedAlleles") or []:
        name = entry["name"]
        facts[name] = (entry.get("functionValue") or None, _activity(entry.get("activityValue"), f"{where}, {name}"))
    for name, value in (phenotype.get("haplotypes") or {}).items():
        if name in facts:
            _check_haplotype_agrees(where, name, value, facts[name], activity_file)
        else:
            function = None if activity_file else (value or None)
            facts[name] = (function, _activity(activities.get(name), f"{where}, {name}"))
    for name, value in activities.items():
        if _activity(value, f"{where}, {name}") != facts.get(name, (None, None))[1]:
            raise KnowledgeBaseError(f"{where}: activityValues[{name!r}]={value!r} disagrees with namedAlleles")
    return facts


def lower_bound_activities(phenotype: dict | None) -> dict[str, str]:
    """allele -> activity text for the alleles whose activity is a lower bound (``≥3.0``)."""
    if phenotype is None:
        return {}
    found: dict[str, str] = {}
    for entry in phenotype.get("namedAlleles") or []:
        if is_lower_bound(entry.get("activityValue")):
            found[entry["name"]] = entry["activityValue"].strip()
    for name, value in (phenotype.get("activityValues") or {}).items():
        if is_lower_bound(value):
            if found.setdefault(name, value.strip()) != value.strip():
                raise KnowledgeBaseError(f"phenotype file: activity of {name} given as {found[name]!r} and {value!r}")
    return found


def _check_haplotype_agrees(where: str, name: str, value: str, fact: tuple, activity_file: bool) -> None:
    function, activity = fact
    same = _activity(value, f"{where}, {name}") == activity if activity_file else value == function
    if not same:
        raise KnowledgeBaseError(f"{where}: haplotypes[{name!r}]={value!r} disagrees with namedAlleles {fact}")


def defined_alleles(src: GeneSources) -> list[str]:
    """Names the definition file defines (none for an outside-call gene)."""
    return [a["name"] for a in (src.translation or {}).get("namedAlleles", [])]


def undefined_alleles(src: GeneSources) -> list[str]:
    """Alleles the phenotype file names that the translation file does not define."""
    if src.translation is None:
        return []
    defined = set(defined_alleles(src))
    return [name for name in allele_facts(src.gene, src.phenotype) if name not in defined]


def structural_alleles(src: GeneSources, pypgx_sv: set[str]) -> list[str]:
    """Phenotype-file alleles that are copy-number forms of a known allele or flagged SV by PyPGx."""
    known = set(defined_alleles(src)) | set(allele_facts(src.gene, src.phenotype))
    out = []
    for name in undefined_alleles(src):
        m = COPY_NUMBER.match(name)
        if (m and m["base"] in known) or name in pypgx_sv:
            out.append(name)
    return out


# --- PyPGx fallback functions ---------------------------------------------------------

#: PyPGx's placeholder for "no function assigned"; it is no information (on alleles both
#: sources name, PyPGx "Unknown Function" stands against CPIC decreased, no and normal function)
PYPGX_UNASSIGNED = ("Unknown Function", "N/A", "")
#: CPIC's allele-function terms PyPGx writes in title case, usable for a gene without a
#: phenotype file to learn from
_GENERIC_FUNCTIONS = ("Normal function", "Decreased function", "No function", "Increased function", "Uncertain function")
#: alleles both sources name that must agree before a PyPGx function term is translated
MIN_AGREEING = 3


@dataclass(frozen=True)
class PyPGxGene:
    """One gene's rows of PyPGx's allele table: function text and SV flag per allele."""

    functions: dict[str, str]
    structural: set[str]


def pypgx_alleles(rows: Iterable[dict[str, str]]) -> dict[str, PyPGxGene]:
    """gene -> PyPGx allele functions and structural-variant names."""
    functions: dict[str, dict[str, str]] = defaultdict(dict)
    structural: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        functions[row["Gene"]][row["StarAllele"]] = (row.get("Function") or "").strip()
        if (row.get("SV") or "").strip().upper() == "TRUE":
            structural[row["Gene"]].add(row["StarAllele"])
    return {g: PyPGxGene(dict(functions[g]), structural[g]) for g in functions}


def pypgx_function_map(pharmcat: dict[str, str], pypgx: dict[str, str]) -> dict[str, str]:
    """PyPGx function text -> PharmCAT's, learned from the alleles both sources name.

    A PyPGx term translates only when at least ``MIN_AGREEING`` shared alleles carry it
    and every one of them has the same PharmCAT function (G6PD ``Class I (Deficient with
    CNSHA)`` -> ``I/Deficient with CNSHA``; NUDT15 ``Uncertain Function`` -> ``Uncertain
    function``). A gene without any PharmCAT function (no phenotype file) translates
    only CPIC's generic terms, by spelling (``Normal Function`` -> ``Normal function``).
    """
    seen: dict[str, set[str]] = defaultdict(set)
    count: dict[str, int] = defaultdict(int)
    for allele, term in pypgx.items():
        if term in PYPGX_UNASSIGNED or allele not in pharmcat:
            continue
        seen[term].add(pharmcat[allele])
        count[term] += 1
    if not pharmcat:
        terms = {t for t in pypgx.values() if t not in PYPGX_UNASSIGNED}
        return {t: t[:1] + t[1:].lower() for t in terms if t[:1] + t[1:].lower() in _GENERIC_FUNCTIONS}
    return {t: next(iter(s)) for t, s in seen.items() if len(s) == 1 and count[t] >= MIN_AGREEING}


def pypgx_function_fills(src: GeneSources, pypgx: PyPGxGene | None) -> dict[str, tuple[str, str]]:
    """allele -> (function, PyPGx's text) for defined alleles the phenotype files leave without one."""
    if pypgx is None:
        return {}
    facts = allele_facts(src.gene, src.phenotype)
    pharmcat = {name: f for name, (f, _) in facts.items() if f}
    mapping = pypgx_function_map(pharmcat, pypgx.functions)
    fills = {}
    for name in defined_alleles(src):
        term = pypgx.functions.get(name)
        if name not in pharmcat and term in mapping:
            fills[name] = (mapping[term], term)
    return fills


def guideline_name(name: str, defined: set[str], reference: bool, reference_name: str | None) -> str:
    """The name guidelines and reports use for allele ``name``.

    A PharmVar suballele (``*45.001``) is reported as its star allele (``*45``), which is
    what CPIC's function tables and guidelines name, unless the definitions also define
    that star allele themselves. The reference allele takes ``reference_name`` when the
    gene has one (a ``reference_name`` gene rule: CFTR's ``Reference``).
    """
    if reference and reference_name:
        return reference_name
    m = SUBALLELE.match(name)
    if m and m["parent"] not in defined:
        return m["parent"]
    return name


def allele_rows(src: GeneSources, pypgx: PyPGxGene | None = None, reference_name: str | None = None) -> list[dict]:
    """One row per allele: defined ones, structural ones, or (outside genes) phenotype-file ones.

    A suballele the phenotype file does not name takes its star allele's function and
    activity value (the phenotype file names SLCO1B1 ``*45``; the definitions ``*45.001``).
    """
    facts = allele_facts(src.gene, src.phenotype)
    fills = pypgx_function_fills(src, pypgx)
    defined = set(defined_alleles(src))
    rows = []

    def add(name: str, reference: bool, structural: bool) -> None:
        reported = guideline_name(name, defined, reference, reference_name)
        function, activity = facts.get(name) or facts.get(reported, (None, None))
        function = function or fills.get(name, ("", ""))[0]
        rows.append(
            {
                "gene": src.gene,
                "allele": name,
                "guideline_name": reported,
                "is_reference": reference,
                "is_structural": structural,
                "function": function or "",
                "activity_value": activity,
            }
        )

    if src.translation is None:
        for name in facts:
            add(name, name == OUTSIDE_REFERENCE_NAME, False)
        return rows
    for allele in src.translation["namedAlleles"]:
        add(allele["name"], bool(allele.get("reference", False)), bool(allele.get("structuralVariant", False)))
    for name in structural_alleles(src, pypgx.structural if pypgx else set()):
        add(name, False, True)
    return rows
