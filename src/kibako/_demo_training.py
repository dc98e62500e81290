"""The demo's training job: a SageMaker script-mode script, written out and run as it would run on SageMaker.

The script trains an SGD classifier epoch by epoch, checkpoints after each epoch, prints ``epoch=N
val_auc=X;`` lines for MetricDefinitions, and resumes from its checkpoint when restarted. The demo runs it as
a spot job interrupted once, then tunes its regularisation with a small tuning job.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SCRIPT = '''\
"""Script-mode training: nothing here knows about kibako."""
import argparse
import os
import pickle
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import roc_auc_score

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=8)
parser.add_argument("--alpha", type=float, default=1e-4)
parser.add_argument("--epoch-seconds", type=float, default=0.25)
parser.add_argument("--model-dir", default=os.environ["SM_MODEL_DIR"])
parser.add_argument("--train", default=os.environ["SM_CHANNEL_TRAIN"])
args = parser.parse_args()

data = np.loadtxt(Path(args.train) / "churn.csv", delimiter=",", skiprows=1)
x, y = data[:, :-1], data[:, -1]
x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-9)
split = int(len(y) * 0.8)
checkpoints = Path(args.model_dir).parent / "checkpoints"  # /opt/ml/checkpoints
state = checkpoints / "state.pkl"
if state.exists():
    model, start = pickle.loads(state.read_bytes())
    print(f"resuming from the checkpoint of epoch {start}")
else:
    model, start = SGDClassifier(loss="log_loss", alpha=args.alpha, random_state=0), 0
for epoch in range(start, args.epochs):
    model.partial_fit(x[:split], y[:split], classes=[0, 1])
    auc = roc_auc_score(y[split:], model.predict_proba(x[split:])[:, 1])
    print(f"epoch={epoch} val_auc={auc:.4f};")
    state.write_bytes(pickle.dumps((model, epoch + 1)))
    time.sleep(args.epoch_seconds)
(Path(args.model_dir) / "model.pkl").write_bytes(pickle.dumps(model))
'''

METRICS = {"val_auc": r"val_auc=([0-9.]+);"}


def write_script(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.py").write_text(SCRIPT)
    return folder


def spot_job(kb: Any, source: Path, dataset: Path) -> Any:
    """The script as a spot training job, interrupted once a second into training, resumed from its checkpoint."""
    return kb.jobs.train(
        "train.py",
        str(source),
        inputs={"train": str(dataset)},
        hyperparameters={"epochs": 8, "alpha": 1e-4},
        metric_definitions=METRICS,
        spot=True,
        interrupt_at=[1.0],
        max_run=600,
        max_wait=1200,
        grace_seconds=5,
        experiment="churn-demo-jobs",
        wait=True,
    )


def tuning_job(kb: Any, source: Path, dataset: Path) -> Any:
    """A small Random search over the script's regularisation, two trials at a time."""
    return kb.tuning.start(
        "train.py",
        str(source),
        ranges={"alpha": "float:1e-5:1e-1:log"},
        objective_metric="val_auc",
        metric_definitions=METRICS,
        objective_type="Maximize",
        inputs={"train": str(dataset)},
        static_hyperparameters={"epochs": 3, "epoch-seconds": 0},
        strategy="Random",
        max_jobs=4,
        max_parallel=2,
        seed=7,
        wait=True,
    )
