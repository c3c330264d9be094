"""Rule `patient_json`: Parquet tables of one batch -> one patient JSON per sample in json/.

Thin shim over `pgx.patient_json.write_patient_jsons`.
"""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from pathlib import Path

try:
    import pgx  # noqa: F401
except ImportError:  # --use-conda: the env has pgx's dependencies; pgx is this checkout
    sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))

from pgx.patient_json import write_patient_jsons

write_patient_jsons(Path(snakemake.params.results_dir), Path(snakemake.output.documents))
