"""Records what the job gave it (argv, SM_* variables, the interpreter) in the model folder."""

import json
import os
import sys

record = {
    "argv": sys.argv[1:],
    "env": {k: v for k, v in os.environ.items() if k.startswith(("SM_", "KIBAKO_", "TRAINING_JOB"))},
    "executable": sys.executable,
    "prefix": sys.prefix,
}
try:
    import numpy

    record["numpy"] = numpy.__version__
except ImportError:
    record["numpy"] = None
with open(os.path.join(os.environ["SM_MODEL_DIR"], "contract.json"), "w") as f:
    json.dump(record, f)
os.makedirs(os.environ["SM_OUTPUT_DATA_DIR"], exist_ok=True)
with open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "predictions.csv"), "w") as f:
    f.write("id,prediction\n1,0.5\n")
