"""Rule `patient_json`: Parquet tables of one batch -> one patient JSON per sample in json/.

Thin shim over `pgx.patient_json.write_patient_jsons`.
"""

import sys
from pathlib import Path

try:
    from pgx.workflow_script import log_to_rule_log
except ImportError:  # --use-conda: the env has pgx's dependencies; pgx is this checkout
    sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))
    from pgx.workflow_script import log_to_rule_log

log_to_rule_log(snakemake)  # stderr and logging to the rule's log, before pgx's stages import

from pgx.patient_json import write_patient_jsons

write_patient_jsons(Path(snakemake.params.results_dir), Path(snakemake.output.documents))
