"""Outside calls: results from other assays that fill or override genes of a batch.

A VCF of SNVs and indels cannot see CYP2D6 copy number or HLA types, so a lab gives
those from a dedicated caller as a TSV with columns ``sample_id``, ``gene`` and at least
one of ``diplotype``, ``phenotype``, ``activity_score``:

    sample_id   gene    diplotype       phenotype       activity_score
    P001        CYP2D6  *1/*2x2
    P001        HLA-B   *57:01/*08:01
    P002        CYP2C19                 Poor Metabolizer

An outside call replaces the VCF call of that sample and gene (the VCF call's own
result is kept in the warnings so nothing is silently lost). A row that cannot be used
(unknown gene, allele not in the KB, phenotype not in the gene's vocabulary, score not a
number, two rows for the same sample and gene) fails that gene for that sample with a
message naming the file and line; the rest of the batch goes on.

A mitochondrial gene (MT-RNR1) is one haplotype: its ``diplotype`` cell is a single
allele (``m.1555A>G``, also the complex ``m.961T>del+Cn`` that no VCF call gives).

**PharmCAT's outside-call format** is accepted as it is: no header, one gene per line,
tab-separated gene, diplotype (or single allele), and optionally phenotype and activity
score; ``#`` lines are comments; one file holds one sample. It is recognised by its first
line (a gene symbol and two to four cells, no header names). Its rows belong to the
batch's only sample, or to the sample named with ``--sample`` (sample sheet:
``outside_calls_sample``); a batch of several samples without a name is an error.

Duplicated alleles are written ``*2x2``: their function is the base allele's and their
activity value the base value times the copy number (CPIC's rule for CYP2D6). A copy
number the assay could only bound (``*1xN``: two or more; ``*1x≥3`` / ``*1x>=3``: at
least three) gives a lower bound on the activity score: the phenotype is reported only
when every score from that bound up gives the same one (for CYP2D6, a bound above the
Ultrarapid threshold), the lookup key is the bound (``≥3.0``), and the call says so;
otherwise the phenotype is Indeterminate. A duplicated no-function allele scores 0 at any
copy number.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd

from pgx.errors import OutsideCallError
from pgx.kb import KnowledgeBase
from pgx.schema import NO_CALL, NO_RESULT
from pgx.naming import format_diplotype
from pgx.phenotype import INDETERMINATE, gene_tables, format_activity_score, phenotype_from_facts, phenotype_from_score

REQUIRED = ("sample_id", "gene")
RESULT_COLUMNS = ("diplotype", "phenotype", "activity_score")
_HLA_ALLELE = re.compile(r"^\*\d{2,3}:\d{2,3}(:\d{2,3}){0,2}[A-Z]?$")
_DUPLICATION = re.compile(r"^(?P<base>.+?)x(?P<bound>≥|>=)?(?P<n>\d+|N)$")


#: the cells of a PharmCAT outside-call line, in order
PHARMCAT_COLUMNS = ("gene", "diplotype", "phenotype", "activity_score")
_GENE_SYMBOL = re.compile(r"[A-Za-z][A-Za-z0-9]*(-[A-Za-z0-9]+)*")


def _first_line(path: Path) -> list[str] | None:
    """The cells of the first line that is neither blank nor a ``#`` comment."""
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip() and not line.lstrip().startswith("#"):
                    return line.rstrip("\r\n").split("\t")
    except UnicodeDecodeError as exc:
        raise OutsideCallError(f"{path}: not a readable text file ({exc}); save it as UTF-8 TSV") from None
    return None


def is_pharmcat_format(cells: list[str] | None) -> bool:
    """Whether a first line is PharmCAT's outside-call format: a gene symbol and its result
    (two to four cells), not a header (ours or another) and not our rows without a header
    (``P1  CYP2D6  *1/*4``: the second cell would be a gene, not a result)."""
    if not cells or not 2 <= len(cells) <= len(PHARMCAT_COLUMNS):
        return False
    names = {c.strip().lower() for c in cells}
    if names & {*REQUIRED, *RESULT_COLUMNS}:
        return False
    result = cells[1].strip()
    # a diplotype or allele (``*1/*4``, ``*57:01``, ``m.1555A>G``, ``Reference/c.61C>T``), or only a phenotype/score
    looks_like_result = any(ch in result for ch in "*/:>") if result else any(c.strip() for c in cells[2:])
    return bool(_GENE_SYMBOL.fullmatch(cells[0].strip())) and looks_like_result


def _read_pharmcat(path: Path, sample: str | None) -> pd.DataFrame:
    """A PharmCAT outside-call file as our rows; ``sample_id`` is ``sample`` or empty (to
    be given the batch's only sample by :func:`assign_single_sample`)."""
    rows = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            cells = [c.strip() for c in line.rstrip("\r\n").split("\t")]
            if len(cells) > len(PHARMCAT_COLUMNS) or not cells[0]:
                raise OutsideCallError(
                    f"{path} line {number}: PharmCAT's outside-call format has at most {len(PHARMCAT_COLUMNS)} "
                    f"tab-separated cells (gene, diplotype, phenotype, activity score) and a gene first; found "
                    f"{line.strip()!r}"
                )
            cells += [""] * (len(PHARMCAT_COLUMNS) - len(cells))
            rows.append({"sample_id": sample or "", **dict(zip(PHARMCAT_COLUMNS, cells)), "line": number})
    df = pd.DataFrame(rows, columns=["sample_id", *PHARMCAT_COLUMNS, "line"])
    df["gene"] = df["gene"].str.upper()
    df["source"] = str(path)
    df.attrs["one_sample"] = sample is None
    return df


def assign_single_sample(outside: pd.DataFrame, samples: list[str], path: Path | str) -> pd.DataFrame:
    """A PharmCAT-format file read without ``--sample``: its rows given to the batch's only
    sample; an :class:`OutsideCallError` when the batch has several."""
    if not outside.attrs.get("one_sample"):
        return outside
    if len(samples) != 1:
        shown = ", ".join(repr(s) for s in samples[:5]) + (" ..." if len(samples) > 5 else "")
        raise OutsideCallError(
            f"{path}: this outside-call file is in PharmCAT's format (one sample per file, no sample_id column), "
            f"but the batch has {len(samples)} samples ({shown}); name its sample with --sample "
            "(sample sheet: outside_calls_sample), or add a sample_id column"
        )
    out = outside.copy()
    out["sample_id"] = samples[0]
    out.attrs["one_sample"] = False
    return out


def read_outside_calls(path: Path | str, sample: str | None = None) -> pd.DataFrame:
    """The outside-call TSV as strings, with a ``line`` column (1-based, header = 1), in our
    format or PharmCAT's (see the module docstring; ``sample`` names a PharmCAT file's sample)."""
    path = Path(path)
    if not path.is_file():
        raise OutsideCallError(f"{path}: outside-call file not found; check the --outside-calls path")
    _check_size(path)
    if is_pharmcat_format(_first_line(path)):
        return _read_pharmcat(path, sample)
    if sample is not None:
        raise OutsideCallError(
            f"{path}: --sample {sample!r} is only for PharmCAT's outside-call format (no header, one sample per "
            "file); this file has a header, so its sample_id column names the samples"
        )
    try:
        df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, comment="#")
    except pd.errors.EmptyDataError:
        raise OutsideCallError(
            f"{path}: the outside-call file is empty; it needs a header line (sample_id, gene, diplotype ...)"
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise OutsideCallError(f"{path}: not a readable tab-separated file ({exc}); save it as TSV") from None
    df.columns = [c.strip().lower() for c in df.columns]
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing or not any(c in df.columns for c in RESULT_COLUMNS):
        raise OutsideCallError(
            f"{path}: needs columns sample_id, gene and one of {', '.join(RESULT_COLUMNS)}; "
            f"found {', '.join(df.columns) or 'none'}. (PharmCAT's own format is accepted too: no header, one "
            "line per gene with tab-separated gene, diplotype, and optionally phenotype and activity score)"
        )
    for c in RESULT_COLUMNS:
        if c not in df.columns:
            df[c] = ""
    df = df.apply(lambda col: col.str.strip())
    df["line"] = range(2, len(df) + 2)
    df["source"] = str(path)
    return df


#: the longest line and the largest file of outside calls pgx reads (a line of a real file
#: is well under 1 KB; a million rows are well under 256 MiB)
MAX_LINE_BYTES = 1 << 20
MAX_FILE_BYTES = 256 << 20


def _check_size(path: Path) -> None:
    """Refuse an outside-call file or line beyond the limits before pandas reads it."""
    if path.stat().st_size > MAX_FILE_BYTES:
        raise OutsideCallError(f"{path}: larger than {MAX_FILE_BYTES >> 20} MiB; that is not an outside-call table")
    with open(path, "rb") as fh:
        for lineno, line in enumerate(iter(lambda: fh.readline(MAX_LINE_BYTES + 1), b""), 1):
            if len(line) > MAX_LINE_BYTES:
                raise OutsideCallError(f"{path}, line {lineno}: longer than {MAX_LINE_BYTES >> 20} MiB; fix the file")


def copy_number(allele: str) -> tuple[str, int, bool] | None:
    """``*2x3`` -> ("*2", 3, False); ``*2xN`` -> ("*2", 2, True); ``*2x≥3`` -> ("*2", 3, True)
    (base allele, copies or their lower bound, whether it is a bound); None without ``x``."""
    m = _DUPLICATION.match(allele)
    if m is None:
        return None
    if m["n"] == "N":
        return m["base"], 2, True
    return m["base"], int(m["n"]), bool(m["bound"])


def _allele_facts(t: dict, gene: str, allele: str) -> tuple[str | None, float | None, bool] | None:
    """(function, activity, activity_is_lower_bound) of an allele, handling duplications
    (``*2x2``, ``*2xN``, ``*2x≥3``); None if the allele is unknown."""
    dup = copy_number(allele)
    known = (gene, allele) in t["function"]
    if known and (dup is None or not dup[2] or t["activity"].get((gene, allele)) is not None):
        return t["function"][(gene, allele)], t["activity"].get((gene, allele)), False
    if dup is None or (gene, dup[0]) not in t["function"]:
        return None
    base, copies, bound = dup
    function = t["function"][(gene, allele if known else base)]
    act = t["activity"].get((gene, base))
    if act is None:
        return function, None, False
    return function, act * copies, bound and act > 0


def _phenotype_vocabulary(kb: KnowledgeBase, gene: str) -> set[str]:
    fp = kb.table("function_phenotypes", gene)["phenotype"]
    pr = kb.table("phenotype_rules", gene)["phenotype"]
    keys = set()
    if "recommendations" in kb.tables:
        for key in kb.tables["recommendations"]["lookup_key"]:
            for part in key.split(";"):
                g, _, v = part.partition("=")
                if g == gene:
                    keys.add(v)
    return set(fp) | set(pr) | keys


def resolve_row(row: dict, kb: KnowledgeBase) -> dict:
    """One outside-call row -> the calls-table fields it sets (raises OutsideCallError)."""
    t = gene_tables(kb)
    gene, where = row["gene"], f"{row['source']} line {row['line']}"
    genes = set(kb.tables["genes"]["gene"])
    if gene not in genes:
        raise OutsideCallError(f"{where}: gene {gene!r} is not in the knowledge base ({', '.join(sorted(genes))})")
    out = {"diplotype": None, "allele_1": None, "allele_2": None, "function_1": None, "function_2": None}
    out.update(activity_score=None, phenotype=None, lookup_key=None, note=None)
    if row["diplotype"] and gene in _haploid_genes(kb):
        out.update(_haploid_result(t, gene, row["diplotype"], where))
    elif row["diplotype"]:
        alleles = row["diplotype"].split("/")
        if len(alleles) != 2 or not all(alleles):
            raise OutsideCallError(f"{where}: diplotype {row['diplotype']!r} is not of the form A/B")
        facts = []
        for allele in alleles:
            f = _allele_facts(t, gene, allele)
            if f is None and not _HLA_ALLELE.match(allele):
                raise OutsideCallError(f"{where}: {gene} allele {allele!r} is not in the knowledge base")
            facts.append(f or (None, None, False))
        diplotype = format_diplotype(*alleles)
        a1, a2 = diplotype.split("/", 1)
        if a1 != alleles[0]:
            facts.reverse()
        out.update(diplotype=diplotype, allele_1=a1, allele_2=a2, function_1=facts[0][0], function_2=facts[1][0])
        out.update(_derived_phenotype(t, gene, facts))
        if any(bound for _, _, bound in facts):
            out.update(_bounded_score(t, gene, facts))
    if row["activity_score"]:
        try:
            score = float(row["activity_score"])
        except ValueError:
            raise OutsideCallError(f"{where}: activity_score {row['activity_score']!r} is not a number") from None
        out["activity_score"] = score
        out["phenotype"] = phenotype_from_score(t["rules"].get(gene, []), score)
        out["lookup_key"] = format_activity_score(score)
    if row["phenotype"]:
        vocab = _phenotype_vocabulary(kb, gene)
        if vocab and row["phenotype"] not in vocab:
            raise OutsideCallError(
                f"{where}: {gene} phenotype {row['phenotype']!r} is not one the guidelines use ({'; '.join(sorted(vocab)[:12])})"
            )
        out["phenotype"] = row["phenotype"]
        if t["method"].get(gene) != "activity_score" or out["lookup_key"] is None:
            out["lookup_key"] = row["phenotype"]
    if out["lookup_key"] is None:
        out["lookup_key"] = out["diplotype"] or NO_RESULT
    return out


def _haploid_genes(kb: KnowledgeBase) -> set[str]:
    """Genes whose result is one haplotype (mitochondrial: MT-RNR1)."""
    return set(kb.mito_genes)


def _haploid_result(t: dict, gene: str, allele: str, where: str) -> dict:
    """The fields an outside call of one haplotype (``m.1555A>G``) sets."""
    facts = _allele_facts(t, gene, allele)
    if "/" in allele or facts is None:
        raise OutsideCallError(
            f"{where}: {gene} is one haplotype: give a single allele of the knowledge base (e.g. m.1555A>G), not {allele!r}"
        )
    out = {"diplotype": allele, "allele_1": allele, "allele_2": None, "function_1": facts[0], "function_2": None}
    return {**out, **_derived_phenotype(t, gene, [facts])}


def _derived_phenotype(t: dict, gene: str, facts) -> dict:
    """Score/phenotype/key from two (function, activity) pairs; nothing for a gene scored
    by function pairs when a function or the pair is unknown (the diplotype then serves
    as the key, as for HLA)."""
    found = phenotype_from_facts(t, gene, [(f, a) for f, a, _ in facts])
    if t["method"].get(gene) == "activity_score":
        return {k: found[k] for k in ("activity_score", "phenotype", "lookup_key")}
    if all(f for f, _, _ in facts) and found["phenotype"]:
        return {"phenotype": found["phenotype"], "lookup_key": found["phenotype"]}
    return {}


def _bounded_score(t: dict, gene: str, facts) -> dict:
    """Phenotype and key when a copy number is only bounded below: the activity score is
    at least the sum, so the phenotype is known only if the open-ended top range holds it."""
    if t["method"].get(gene) != "activity_score" or any(a is None for _, a, _ in facts):
        return {}
    low = float(sum(a for _, a, _ in facts))
    top = [p for lo, hi, p in t["rules"].get(gene, []) if lo <= low and math.isinf(hi)]
    key = "≥" + format_activity_score(low)
    note = f"copy number given only as a lower bound: activity score {key}"
    if not top:
        note += ", which spans more than one phenotype"
    return {"activity_score": None, "phenotype": top[0] if top else INDETERMINATE, "lookup_key": key, "note": note}


def apply_outside_calls(calls: pd.DataFrame, outside: pd.DataFrame, kb: KnowledgeBase) -> pd.DataFrame:
    """``calls`` with outside results filling or overriding (sample, gene) rows."""
    if outside is None or outside.empty:
        return calls
    samples = set(calls["sample_id"])
    dup = outside.duplicated(subset=["sample_id", "gene"], keep=False)
    by_key = {(r["sample_id"], r["gene"]): r for r in calls.to_dict("records")}
    for row in outside.to_dict("records"):
        key = (row["sample_id"], row["gene"])
        if row["sample_id"] not in samples:
            continue
        base = by_key.get(key) or _empty_call(row["sample_id"], row["gene"], kb)
        previous = base.get("diplotype")
        try:
            if dup.loc[outside["line"] == row["line"]].any():
                raise OutsideCallError(f"{row['source']} line {row['line']}: several outside calls for {key[0]} {key[1]}")
            fields = resolve_row(row, kb)
        except OutsideCallError as exc:
            by_key[key] = {**base, **_failed(str(exc))}
            continue
        note = f"outside call from {row['source']} line {row['line']}"
        if previous:
            note += f" (replaces the VCF call {previous})"
        extra = fields.pop("note")
        notes = [note, extra] if extra else [note]
        by_key[key] = {
            **base,
            **fields,
            "call_status": "outside_call",
            "score": None,
            "alternatives": [],
            "alleles_found": [],
            "suballeles": [],
            "reason_codes": ["outside_call"],
            "warnings": notes,
        }
    out = pd.DataFrame(list(by_key.values()))
    order = {s: i for i, s in enumerate(dict.fromkeys(calls["sample_id"]))}
    out["_o"] = out["sample_id"].map(order)
    return out.sort_values(["_o", "gene"], kind="stable").drop(columns="_o").reset_index(drop=True)


def _failed(message: str) -> dict:
    return {
        "diplotype": None,
        "allele_1": None,
        "allele_2": None,
        "function_1": None,
        "function_2": None,
        "activity_score": None,
        "phenotype": None,
        "lookup_key": NO_RESULT,
        "call_status": NO_CALL,
        "score": None,
        "alternatives": [],
        "alleles_found": [],
        "suballeles": [],
        "reason_codes": ["outside_call_error"],
        "warnings": [f"outside call rejected: {message}"],
    }


def _empty_call(sample_id: str, gene: str, kb: KnowledgeBase) -> dict:
    return {
        "sample_id": sample_id,
        "gene": gene,
        "phased": None,
        "missing_positions": [],
        "assumed_reference_positions": [],
        "novel_variants": [],
        "kb_version": kb.version,
        **_failed("no result"),
    }
