"""Time per patient of the per-patient exports (FHIR bundles, patient JSON) on the 3,202
1000 Genomes genomes.

Calls the batch once (``run_batch``, every KB gene with a file, ``assume_reference``,
no PDFs), then times ``write_fhir_bundles`` and ``write_patient_jsons`` on its tables,
each in this process (CPU time and wall time, best of ``--runs``; the path ``pgx run
--fhir --json`` and the workflow's rules take), and prints seconds per patient and bytes
per patient. Then the FHIR writer's parts: reading the tables, the first pass over the
cohort (which builds each distinct resource once, as ``fhir.resources`` models, and
serialises it), a second pass (filling the patients' ids into the serialised resources
only), and for comparison the full model build (``build_bundle`` + the library's
serialiser, every resource of every bundle) on ``--profile-patients`` patients, checked
to give the same bytes.

    python bench/export_speed.py [--runs 1] [--work /tmp/pgx-bench-exports] [--kb DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pgx.fhir import FhirCodes, build_bundle, write_fhir_bundles  # noqa: E402
from pgx.fhir_batch import BatchBundles  # noqa: E402
from pgx.kb import load_kb  # noqa: E402
from pgx.patient_files import read_patients  # noqa: E402
from pgx.patient_json import write_patient_jsons  # noqa: E402
from pgx.pipeline import run_batch  # noqa: E402


def shared_data() -> Path:
    return Path(os.environ.get("PGX_SHARED_DATA", REPO.parent / "shared" / "data"))


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed(fn, runs: int) -> tuple[float, float]:
    """(best wall, best CPU) seconds of ``fn()`` over ``runs`` runs."""
    walls, cpus = [], []
    for _ in range(runs):
        w, c = time.perf_counter(), cpu()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(cpu() - c)
    return min(walls), min(cpus)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--work", type=Path, default=Path("/tmp/pgx-bench-exports"))
    ap.add_argument("--kb", type=Path)
    ap.add_argument("--profile-patients", type=int, default=20)
    args = ap.parse_args(argv)
    kb = load_kb(args.kb)
    vcf_dir = shared_data() / "1kgp" / "GRCh38"
    vcfs = sorted(p for p in vcf_dir.glob("*.vcf.gz") if p.name.split(".")[0] in set(kb.genes))
    if not vcfs:
        print(f"no 1000 Genomes VCFs in {vcf_dir}", file=sys.stderr)
        return 2
    batch = args.work / "1kgp"
    if not (batch / "run.json").is_file():
        t = time.perf_counter()
        run_batch(vcfs, batch, batch="1kgp", assume_reference=True, reports=False, kb=kb)
        print(f"called {len(vcfs)} gene files in {time.perf_counter() - t:.1f} s")
    n = len(read_patients(batch))
    print(f"load average before: {os.getloadavg()[0]:.2f} (2 cores)")
    for name, fn in (
        ("patient JSON", lambda: write_patient_jsons(batch, args.work / "json")),
        ("FHIR bundles", lambda: write_fhir_bundles(batch, args.work / "fhir", kb=kb)),
    ):
        wall, cpu_s = timed(fn, args.runs)
        folder = args.work / ("json" if name == "patient JSON" else "fhir")
        size = sum(p.stat().st_size for p in folder.glob("*.json"))
        print(
            f"{name}: {n} patients, wall {wall:.1f} s ({1000 * wall / n:.1f} ms/patient), "
            f"CPU {cpu_s:.1f} s ({1000 * cpu_s / n:.1f} ms/patient), {size / n / 1024:.0f} KiB/patient"
        )
    codes = FhirCodes(kb)
    c = cpu()
    bundles = BatchBundles.read(batch, codes)
    read = cpu() - c
    passes = []
    for _ in range(2):
        c = cpu()
        for sample in bundles.samples:
            bundles.bundle_json(sample)
        passes.append(cpu() - c)
    print(
        f"FHIR writer's parts (CPU per patient): reading the tables {1000 * read / n:.2f} ms; first pass "
        f"{1000 * passes[0] / n:.2f} ms (builds {len(bundles._templates)} distinct resources and references once); "
        f"second pass {1000 * passes[1] / n:.2f} ms (ids filled in only)"
    )
    patients = read_patients(batch)[: args.profile_patients]
    build = dump = 0.0
    resources = 0
    for p in patients:
        t = cpu()
        bundle = build_bundle(p, codes)
        build += cpu() - t
        t = cpu()
        text = bundle.model_dump_json(exclude_none=True)
        dump += cpu() - t
        resources += len(bundle.entry)
        if text.encode("utf-8") + b"\n" != bundles.bundle_json(p.sample_id):
            print(f"DIFFERENT BYTES for {p.sample_id}", file=sys.stderr)
            return 1
    k = len(patients)
    print(
        f"full model build, {k} patients (same bytes): {resources / k:.0f} resources/patient; building the models "
        f"{1000 * build / k:.1f} ms/patient, serialising {1000 * dump / k:.1f} ms/patient"
    )
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
