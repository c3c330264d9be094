"""Truth diplotypes: reading a truth table, parsing its notation, and translating older
allele names into current ones.

Truth sets such as GeT-RM write diplotypes in the notation and nomenclature of their
day: ``*1/*2 or *1/*3``, platform notes in parentheses (``*1/*1 (*15)``), two named
alleles on one chromosome (``*27/(*28 + *60)``), and names that have since been renamed
or dropped (SLCO1B1 ``*1B``, UGT1A1 ``*60``). :func:`parse_diplotypes` reads the
notation; :func:`translate_diplotypes` maps each name through the knowledge base's
``legacy_alleles`` table (curated with a citation per row, see
:mod:`pgx.kb_build.legacy`) and says what it did, so ``pgx validate`` can score a row
both by the names as written and by their current meaning.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pgx.kb import KnowledgeBase
from pgx.naming import definition_matches, sort_alleles

_SUBALLELE = re.compile(r"^(\*\d+[A-Za-z]*)\.\d+$")
_COMPOUND_NOTE = re.compile(r"\(\s*([^()]*?\S\s+\+\s+\S[^()]*?)\s*\)")


def read_truth(path: Path | str) -> pd.DataFrame:
    """Truth TSV with at least sample, gene, diplotype; optional flags, alt_diplotype."""
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    df = df.rename(columns={"sample_id": "sample"})
    for col in ("flags", "alt_diplotype"):
        if col not in df:
            df[col] = ""
    return df.drop_duplicates(subset=["sample", "gene", "diplotype"]).reset_index(drop=True)


def parse_diplotypes(text: str) -> list[tuple[str, str]]:
    """``*1/*2`` -> [('*1','*2')]; ``*1/*2 or *1/*3`` and ``a | b`` give every option.

    Parentheses around two names joined by `` + `` (``(*28 + *60)``) are one chromosome
    carrying both, written ``[*28 + *60]`` as pgx writes combinations; any other
    parenthesised text (a platform note, an allele seen on one platform only) is dropped.
    """
    text = _COMPOUND_NOTE.sub(lambda m: "[" + m.group(1) + "]", text or "")
    text = re.sub(r"\([^)]*\)", "", text)
    out = []
    for part in re.split(r"\s+or\s+|\s*\|\s*", text):
        part = part.strip()
        if "/" not in part:
            continue
        a, b = (normal_name(x) for x in part.split("/", 1))
        if a and b:
            out.append(tuple(sorted((a, b))))
    return out


def normal_name(name: str) -> str:
    """An allele name as compared: a PharmVar sub-allele as its core allele (``*45.001`` ->
    ``*45``, guidelines use the core name) and a combination's members in canonical
    order with one spelling (``[*60 + *28]`` -> ``[*28 + *60]``)."""
    name = name.strip()
    if name.startswith("[") and name.endswith("]"):
        members = [normal_name(m) for m in name[1:-1].split(" + ") if m.strip()]
        return "[" + " + ".join(sort_alleles(members)) + "]" if len(members) > 1 else (members[0] if members else "")
    m = _SUBALLELE.match(name)
    return m.group(1) if m else name


def normal_pair(pair: tuple[str, str]) -> tuple[str, str]:
    """Both names of a diplotype through :func:`normal_name`, in sorted order."""
    return tuple(sorted(normal_name(a) for a in pair))


@dataclass
class Translation:
    """A truth row's diplotype options in current names, and how they were reached.

    ``notes``: one line per legacy name translated (``*1B -> *37 (renamed)``);
    ``untranslatable``: names with no current meaning, each with why; ``deciding``:
    positions of the loci that tell apart the current alleles a ``split`` legacy name
    may mean (the input must have them for the translation to be decided by data);
    ``legacy``: some name of the row is not a current name (a ``split`` name such as
    CYP2C19 ``*1`` is current too, so it alone does not make the row legacy-named).
    """

    options: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    untranslatable: list[str] = field(default_factory=list)
    deciding: dict[int, str] = field(default_factory=dict)
    legacy: bool = False


def translate_diplotypes(kb: KnowledgeBase, gene: str, options: list[tuple[str, str]]) -> Translation:
    """``options`` (parsed truth diplotypes) in current names, with what the translation did."""
    out = Translation()
    cache: dict[str, list[str] | None] = {}
    for pair in options:
        for a in pair:
            if a not in cache:
                cache[a] = _translate_allele(kb, gene, a, out)
        sides = [cache[a] for a in pair]
        if any(s is None for s in sides):
            continue
        for a, b in itertools.product(*sides):
            p = tuple(sorted((a, b)))
            if p not in out.options:
                out.options.append(p)
    return out


def _translate_allele(kb: KnowledgeBase, gene: str, name: str, out: Translation) -> list[str] | None:
    """The current names ``name`` may mean (None when none); notes go into ``out``."""
    if name.startswith("["):
        members = [_translate_allele(kb, gene, m, out) for m in name[1:-1].split(" + ")]
        if any(m is None for m in members):
            return None
        return sort_alleles({combine_alleles(kb, gene, list(c)) for c in itertools.product(*members)})
    legacy = legacy_names(kb, gene).get(name)
    if legacy is not None:
        if legacy["relation"] == "unmapped":
            _add(out.untranslatable, f"{name} (a legacy name without an established current meaning: {legacy['note']})")
            return None
        current = legacy["current"].split("|")
        _add(out.notes, _note(kb, gene, name, legacy, current))
        out.legacy = out.legacy or name not in _known_alleles(kb, gene)
        if legacy["relation"] == "split":
            out.deciding.update(_rsid_positions(kb, gene, legacy["decided_by"].split(";")))
        return current
    if name in _known_alleles(kb, gene):
        return [name]
    _add(out.untranslatable, f"{name} (not in current definitions nor in the legacy-name map)")
    return None


def _add(items: list[str], item: str) -> None:
    if item not in items:
        items.append(item)


def _note(kb: KnowledgeBase, gene: str, name: str, legacy: dict, current: list[str]) -> str:
    """``*60 -> *1 (c.-3279T>G (rs4124874) is outside current definitions, not read)``."""
    relation = legacy["relation"]
    target = " or ".join(current)
    if relation == "split":
        return f"{name} -> {target} (split; told apart by {legacy['decided_by'].replace(';', ', ')})"
    loci = set(kb.table("loci", gene)["rsid"])
    outside = [v.strip() for v in legacy["legacy_variants"].split(";") if v.strip() and not set(re.findall(r"rs\d+", v)) & loci]
    words = [_RELATION_WORDS.get(relation, relation)] if relation != "outside_definitions" else []
    if outside:
        words.append(f"{', '.join(outside)} {'is' if len(outside) == 1 else 'are'} outside current definitions, not read")
    return f"{name} -> {target} ({'; '.join(words or [_RELATION_WORDS.get(relation, relation)])})"


_RELATION_WORDS = {"renamed": "renamed", "suballele": "sub-allele", "outside_definitions": "variant outside current definitions"}


def combine_alleles(kb: KnowledgeBase, gene: str, names: list[str]) -> str:
    """One chromosome carrying ``names``, in current names: the reference allele adds
    nothing; one allele left is itself; several are the KB allele defined by exactly
    their variants together (UGT1A1 ``*80+*28``) if there is one, else ``[A + B]``."""
    reference = _reference_allele(kb, gene)
    rest = sort_alleles({n for n in names if n != reference}) or [reference]
    if len(rest) == 1:
        return rest[0]
    variants = variant_sets(kb, gene)
    union = frozenset().union(*(variants.get(n, frozenset()) for n in rest))
    same = [a for a, v in variants.items() if v and v == union]
    return sort_alleles(same)[0] if same else "[" + " + ".join(rest) + "]"


# --- what the knowledge base says, looked up once per KB and gene (kept on the KB) ---------


def legacy_names(kb: KnowledgeBase, gene: str) -> dict[str, dict]:
    """legacy name -> its ``legacy_alleles`` row (a dict), for ``gene``."""

    def build() -> dict[str, dict]:
        if "legacy_alleles" not in kb.tables:
            return {}
        rows = kb.table("legacy_alleles", gene)
        return {r["legacy_name"]: r for r in rows.to_dict("records")}

    return kb.derived(("truth.legacy", gene), build)


def _known_alleles(kb: KnowledgeBase, gene: str) -> set[str]:
    """The gene's allele names, and the core names of its sub-alleles (``*45`` of ``*45.001``)."""
    return kb.derived(("truth.alleles", gene), lambda: set(variant_sets(kb, gene)) | set(kb.table("alleles", gene)["allele"]))


def _reference_allele(kb: KnowledgeBase, gene: str) -> str:
    genes = kb.table("genes", gene)
    return genes["reference_allele"].iloc[0] if len(genes) else ""


def _rsid_positions(kb: KnowledgeBase, gene: str, rsids: list[str]) -> dict[int, str]:
    loci = kb.table("loci", gene)
    return {int(p): r for p, r in zip(loci["pos"], loci["rsid"]) if r in set(rsids)}


def variant_sets(kb: KnowledgeBase, gene: str) -> dict[str, frozenset]:
    """(pos, bases) of every allele's definition that the reference base does not satisfy
    (built once per knowledge base and gene: every truth row asks for it). A core allele
    the KB lists only as sub-alleles (``*45.001``, ``*45.002``) gets the variants they
    all share, so a name compared as its core allele keeps its definition."""
    return kb.derived(("truth.variants", gene), lambda: _with_core_alleles(_build_variant_sets(kb, gene)))


def _with_core_alleles(variants: dict[str, frozenset]) -> dict[str, frozenset]:
    cores: dict[str, list[frozenset]] = {}
    for name, v in variants.items():
        core = normal_name(name)
        if core != name and core not in variants:
            cores.setdefault(core, []).append(v)
    return {**variants, **{core: frozenset.intersection(*vs) for core, vs in cores.items()}}


def _build_variant_sets(kb: KnowledgeBase, gene: str) -> dict[str, frozenset]:
    ref = dict(zip(kb.table("loci", gene)["pos"].astype(int), kb.table("loci", gene)["ref"]))
    defs = kb.table("allele_definitions", gene)
    out: dict[str, set] = {}
    for a, p, b in zip(defs["allele"], defs["pos"].astype(int), defs["bases"]):
        out.setdefault(a, set())
        if not definition_matches(b, ref.get(p)):  # a wobble that allows the reference base defines nothing
            out[a].add((p, b))
    return {a: frozenset(v) for a, v in out.items()}


def haplotype_variants(variants: dict[str, frozenset], name: str) -> frozenset:
    """The defining variants of an allele or of a combination ``[A + B]``."""
    if name.startswith("["):
        return frozenset().union(*(variants.get(m, frozenset()) for m in name[1:-1].split(" + ")))
    return variants.get(name, frozenset())


__all__ = [
    "Translation",
    "combine_alleles",
    "haplotype_variants",
    "legacy_names",
    "normal_name",
    "normal_pair",
    "parse_diplotypes",
    "read_truth",
    "translate_diplotypes",
    "variant_sets",
]
