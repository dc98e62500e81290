"""A script that ignores SM_* and uses the container paths directly, as many SageMaker scripts do."""

import json
import pathlib

hps = json.loads(pathlib.Path("/opt/ml/input/config/hyperparameters.json").read_text())
rows = pathlib.Path("/opt/ml/input/data/train/data.csv").read_text().splitlines()
pathlib.Path("/opt/ml/model/summary.json").write_text(
    json.dumps({"rows": len(rows), "greeting": json.loads(hps["greeting"])})
)
pathlib.Path("/opt/ml/output/data/report.txt").write_text("written to /opt/ml/output/data\n")
