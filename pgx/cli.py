"""Command-line interface: ``pgx run``, ``pgx kb build``, ``pgx kb info``, ``pgx kb import-cpic``, ``pgx simulate``.

Each subcommand is a thin shim over one contract function (``docs/architecture.md``),
the same function the Snakemake workflow calls. Heavy modules are imported inside the
subcommand, so ``pgx --help`` stays fast.

Exit codes: 0 success; 2 a :class:`~pgx.errors.PgxError` (bad input or setup; the
message is printed as ``pgx: error: <message>``, without a traceback) or a usage error;
130 interrupted (Ctrl-C). Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from pgx import __version__
from pgx.builds import BUILDS
from pgx.errors import InputError, PgxError

ASSUME_REFERENCE_HELP = (
    "treat every knowledge-base position that is absent from all input VCFs as "
    "homozygous reference instead of missing. Variant-only VCFs need this: most "
    "single-sample lab VCFs and the 1000 Genomes files list only positions where the "
    "sample differs from the reference, so without it those positions are missing and "
    "many genes cannot be called. Only use it when the VCF covers the whole region "
    "(absence really means reference, not 'not sequenced'). It is recorded in the "
    "provenance table, and every call made with it lists the assumed positions and "
    "carries a warning."
)


def _load_kb(path: Path | None):
    """The knowledge base at ``path``, or the default one (``$PGX_KB`` or the shipped KB)."""
    from pgx.kb import load_kb

    return load_kb(path)


def _check_files_exist(paths: Sequence[Path], what: str = "input VCF") -> None:
    """Fail early, before importing the pipeline, on input paths that are not files."""
    for path in paths:
        if not path.is_file():
            problem = "is a directory, not a file" if path.is_dir() else "does not exist"
            raise InputError(f"{what} {path} {problem}; check the path")


# --- subcommands ----------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    """Run the whole pipeline on one batch of VCFs."""
    _check_files_exist(args.vcfs)
    if args.outside_calls is not None:
        _check_files_exist([args.outside_calls], "outside-call file")
    from pgx.pipeline import run_batch

    kb = _load_kb(args.kb) if args.kb is not None else None
    batch = args.batch or args.out.resolve().name
    outputs = run_batch(
        args.vcfs,
        args.out,
        batch=batch,
        assume_reference=args.assume_reference,
        reports=not args.no_reports,
        kb=kb,
        genes=args.genes,
        outside_calls=args.outside_calls,
        build=args.build,
        overlay=None if args.no_overlay else (args.overlay or "auto"),
        combinations=args.find_combinations,
        paper=args.paper,
        appendix=not args.no_appendix,
        fhir=args.fhir,
        patient_json=args.json,
        outside_sample=args.sample,
    )
    if Path(outputs.get("provenance", "")).is_file():
        _print_build(outputs["provenance"])
    for name, path in outputs.items():
        print(f"{name}\t{path}")
    return 0


def _print_build(provenance: Path) -> None:
    """Say which genome build the run read the VCFs as, and why."""
    from pgx.outputs import read_table

    prov = dict(read_table(provenance)[["key", "value"]].itertuples(index=False))
    print(f"genome build\t{prov.get('genome_build', '?')}: {prov.get('genome_build_reason', 'reason not recorded')}")


def cmd_batch(args: argparse.Namespace) -> int:
    """Lab staff: check a batch of VCFs, run the workflow, say where the results are."""
    from pgx.batch import run_batch_command

    return run_batch_command(args)


def cmd_annotate(args: argparse.Namespace) -> int:
    """Write the batch's pharmacogene variants as an annotated, indexed VCF."""
    _check_files_exist(args.vcfs)
    from pgx.pipeline import annotate_batch

    kb = _load_kb(args.kb) if args.kb is not None else None
    out = annotate_batch(
        args.vcfs,
        args.out,
        assume_reference=args.assume_reference,
        kb=kb,
        genes=args.genes,
        build=args.build,
    )
    print(out)
    return 0


def cmd_kb_build(args: argparse.Namespace) -> int:
    """Rebuild the knowledge-base tables from the upstream source files."""
    if not args.sources.is_dir():
        raise InputError(
            f"--sources {args.sources} is not a directory; point it at the upstream data (e.g. ../shared/data, see its README)"
        )
    from pgx.kb import kb_dir
    from pgx.kb_build import build_kb

    out = args.out if args.out is not None else kb_dir()
    manifest = build_kb(args.sources, out)
    print(manifest)
    return 0


def cmd_kb_info(args: argparse.Namespace) -> int:
    """Print the knowledge-base version, its sources and what it covers."""
    kb = _load_kb(args.kb)
    from pgx.kb import coverage_markdown, describe

    print(coverage_markdown(kb) if args.markdown else describe(kb), end="" if args.markdown else "\n")
    return 0


def cmd_kb_import_cpic(args: argparse.Namespace) -> int:
    """Load the user's own CPIC recommendation export into the local overlay (verbatim texts)."""
    from pgx.overlay import import_cpic, load_overlay

    manifest = import_cpic(args.file, args.overlay)
    overlay = load_overlay(manifest.parent)
    print(f"imported {overlay.manifest['rows']} CPIC recommendations (sha256 {overlay.manifest['sha256']})")
    print(manifest)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """Accuracy against a truth table and call rates (per gene, per population)."""
    from pgx.outputs import read_table
    from pgx.validate import read_populations, read_truth, write_validation

    calls = read_table(args.calls)
    truth = read_truth(args.truth) if args.truth else None
    populations = read_populations(args.populations) if args.populations else None
    paths = write_validation(calls, _load_kb(args.kb), args.out, truth=truth, populations=populations)
    for name, path in paths.items():
        print(f"{name}: {path}")
    if "concordance" in paths:
        print(open(paths["concordance"]).read(), end="")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    """Write a synthetic cohort with known diplotypes (VCF + truth table)."""
    if args.n < 1:
        raise InputError(f"--n must be at least 1, got {args.n}")
    from pgx.simulate import simulate_cohort

    kb = _load_kb(args.kb)
    vcf, truth = simulate_cohort(
        kb,
        kb.genes if args.genes == ["all"] else args.genes,
        args.n,
        args.out,
        phased=not args.unphased,
        seed=args.seed,
        known_function=args.known_function,
        mito_ploidy=args.mito_ploidy,
        showcase=args.showcase,
    )
    print(f"vcf\t{vcf}")
    print(f"truth\t{truth}")
    return 0


# --- parser -----------------------------------------------------------------------------


def _kb_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kb",
        type=Path,
        metavar="DIR",
        help="knowledge-base directory (default: $PGX_KB, else the KB shipped with pgx)",
    )


def _input_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by the subcommands that read a batch of VCFs."""
    parser.add_argument("vcfs", nargs="+", type=Path, metavar="VCF", help="input VCF/BCF file(s)")
    parser.add_argument("--assume-reference", action="store_true", help=ASSUME_REFERENCE_HELP)
    parser.add_argument(
        "--genes", nargs="+", metavar="GENE", help="only these genes (default: every gene the KB calls from a VCF)"
    )
    parser.add_argument(
        "--build",
        choices=("auto", *BUILDS),
        default="auto",
        help="genome build of the VCFs (default: auto, from the VCF headers; GRCh38 when they do not say)",
    )
    _kb_option(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pgx",
        description=(
            "Pharmacogenomics pipeline: VCF -> star-allele diplotypes -> phenotypes -> "
            "CPIC recommendations, written as Parquet tables and one PDF per patient."
        ),
    )
    parser.add_argument("--version", action="version", version=f"pgx {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser(
        "run",
        help="call diplotypes, phenotypes and recommendations for a batch of VCFs",
        description=(
            "Run the pipeline on one batch: one VCF (one or many samples) or several VCFs "
            "that together form one cohort (split by sample, by region, or both; the run "
            "takes their union). Writes genotypes/calls/recommendations/provenance.parquet "
            "and reports/<sample>.pdf under --out."
        ),
    )
    run.add_argument("--out", "-o", type=Path, required=True, metavar="DIR", help="output directory")
    run.add_argument("--batch", metavar="NAME", help="batch name shown in reports (default: name of --out)")
    run.add_argument("--no-reports", action="store_true", help="write the Parquet tables only, no PDFs")
    run.add_argument("--paper", choices=["A4", "letter"], default="A4", help="paper size of the PDFs (default: A4)")
    run.add_argument(
        "--no-appendix",
        action="store_true",
        help="PDFs with the clinical answer only (page 1 and page 2: summary, what to change, genotypes, "
        "references), without the appendix (unchanged drugs, what could not be called, methods, versions)",
    )
    run.add_argument(
        "--fhir",
        action="store_true",
        help="also write one HL7 FHIR R4 Genomics Reporting bundle per sample to fhir/<sample>.json (docs/fhir.md)",
    )
    run.add_argument(
        "--json",
        action="store_true",
        help="also write one patient JSON per sample to json/<sample>.json (schema: docs/patient.schema.json)",
    )
    run.add_argument(
        "--find-combinations",
        action="store_true",
        help="report a phased haplotype that only a combination of defined alleles explains ([*6 + *18], "
        "phenotype Indeterminate) instead of a no-call (research use: no guideline defines such combinations)",
    )
    run.add_argument(
        "--outside-calls",
        type=Path,
        metavar="TSV",
        help=(
            "results from other assays (columns sample_id, gene and diplotype, phenotype "
            "or activity_score) that fill or override genes, e.g. CYP2D6 copy number or HLA"
        ),
    )
    run.add_argument(
        "--sample",
        metavar="SAMPLE_ID",
        help="the sample an outside-call file in PharmCAT's format (no header, one sample per file) belongs to; "
        "not needed when the batch has one sample",
    )
    overlay = run.add_mutually_exclusive_group()
    overlay.add_argument(
        "--overlay",
        type=Path,
        metavar="DIR",
        help="CPIC export imported with `pgx kb import-cpic` whose own wording is added to the "
        "recommendations (default: the imported one, if any: $PGX_OVERLAY or ~/.local/share/pgx/overlay)",
    )
    overlay.add_argument("--no-overlay", action="store_true", help="use no CPIC overlay even if one was imported")
    _input_options(run)
    run.set_defaults(func=cmd_run)

    from pgx.batch import add_parser as add_batch_parser

    add_batch_parser(sub).set_defaults(func=cmd_batch)

    annotate = sub.add_parser(
        "annotate",
        help="write the batch's pharmacogene variants as an annotated VCF",
        description=(
            "Write a bgzipped, tabix-indexed VCF of the variants at knowledge-base positions, "
            "with INFO fields naming the gene, rsID, the star alleles each ALT defines and "
            "their functions."
        ),
    )
    annotate.add_argument("--out", "-o", type=Path, required=True, metavar="VCF_GZ", help="output file (.vcf.gz)")
    _input_options(annotate)
    annotate.set_defaults(func=cmd_annotate)

    kb = sub.add_parser("kb", help="knowledge base: build it, describe it, add a CPIC overlay")
    kb_sub = kb.add_subparsers(dest="kb_command", metavar="KB_COMMAND", required=True)
    build = kb_sub.add_parser(
        "build",
        help="rebuild the knowledge-base tables from the upstream source files",
        description="Regenerate resources/kb (TSV tables + manifest.json) from the PharmCAT/CPIC/PyPGx files.",
    )
    build.add_argument("--sources", type=Path, required=True, metavar="DIR", help="upstream data directory")
    build.add_argument(
        "--out", type=Path, metavar="DIR", help="where to write the tables (default: $PGX_KB, else the shipped KB)"
    )
    build.set_defaults(func=cmd_kb_build)
    info = kb_sub.add_parser("info", help="print the knowledge-base version, sources and coverage")
    info.add_argument("--markdown", action="store_true", help="print per-gene and per-drug coverage tables as Markdown")
    _kb_option(info)
    info.set_defaults(func=cmd_kb_info)
    imp = kb_sub.add_parser(
        "import-cpic",
        help="load your own CPIC recommendation export into a local overlay (CPIC's exact wording)",
        description=(
            "Import CPIC's `recommendation` table (a JSON array, as from "
            "https://api.cpicpgx.org/v1/recommendation?select=*) into a local overlay, so that "
            "recommendations can show CPIC's verbatim text and implications. The knowledge base "
            "itself carries only texts in our own words."
        ),
    )
    imp.add_argument("file", type=Path, metavar="FILE", help="the CPIC recommendation export (JSON)")
    imp.add_argument(
        "--overlay",
        type=Path,
        metavar="DIR",
        help="overlay directory (default: $PGX_OVERLAY, else ~/.local/share/pgx/overlay)",
    )
    imp.set_defaults(func=cmd_kb_import_cpic)

    sim = sub.add_parser(
        "simulate",
        help="write synthetic patients with known diplotypes (VCF + truth.tsv)",
        description=(
            "Simulate a cohort from the knowledge base: simulated.vcf.gz (bgzipped, indexed, "
            "every KB position of the genes listed, so nothing is missing) and truth.tsv."
        ),
    )
    sim.add_argument(
        "--genes", nargs="+", required=True, metavar="GENE",
        help="genes to simulate; 'all': every gene the knowledge base calls from a VCF",
    )  # fmt: skip
    sim.add_argument(
        "--showcase", action="store_true",
        help="add the demo's showcase patients (a DPYD carrier, an unphased CYP2D6 tie, a no-call, CYP2D6 copy "
        "number and HLA types as outside calls in outside_calls.tsv)",
    )  # fmt: skip
    sim.add_argument("--n", type=int, required=True, metavar="N", help="number of samples")
    sim.add_argument("--out", "-o", type=Path, required=True, metavar="DIR", help="output directory")
    sim.add_argument("--unphased", action="store_true", help="write unphased genotypes (0/1 instead of 0|1)")
    sim.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default: 0)")
    sim.add_argument(
        "--known-function",
        action="store_true",
        help="draw only alleles whose function is known, so every patient gets an actionable phenotype",
    )
    sim.add_argument(
        "--mito-ploidy",
        choices=("haploid", "diploid"),
        default="haploid",
        help="how chrM genotypes (MT-RNR1) are written: haploid '1' (default) or homoplasmic diploid '1/1'",
    )
    _kb_option(sim)
    sim.set_defaults(func=cmd_simulate)

    val = sub.add_parser(
        "validate",
        help="accuracy against a truth table, call and ambiguity rates per gene and population",
        description=(
            "Compare calls.parquet with a truth TSV (sample, gene, diplotype[, flags, alt_diplotype]) "
            "at the exact and the function level, list every disagreement with a reason, and "
            "tabulate call, ambiguity, no-call and novel-variant rates per gene (and per population "
            "with --populations)."
        ),
    )
    val.add_argument("--calls", type=Path, required=True, metavar="PARQUET", help="calls.parquet of a run")
    val.add_argument("--truth", type=Path, metavar="TSV", help="truth diplotypes, e.g. GeT-RM consensus")
    val.add_argument("--populations", type=Path, metavar="TSV", help="sample -> superpopulation table")
    val.add_argument("--out", "-o", type=Path, required=True, metavar="DIR", help="where to write the TSV tables")
    _kb_option(val)
    val.set_defaults(func=cmd_validate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pgx`` console script; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors: argparse already printed
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return args.func(args)
    except PgxError as exc:
        print(f"pgx: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # a write the output layer did not wrap: still the user's folder, not a bug
        from pgx.outputs import output_error

        error = output_error(exc, exc.filename or Path.cwd())
        if error is None:
            raise
        print(f"pgx: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("pgx: interrupted", file=sys.stderr)
        return 130
