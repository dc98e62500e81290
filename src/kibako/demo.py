"""``kibako demo``: the ML lifecycle end to end on the embedded store, in seconds.

It makes a churn-like dataset, trains a few scikit-learn models with 5-fold cross-validation (params, a metric
per fold, the dataset as input, the fitted model as output), finds the best runs with a filter, and draws the
best model's lineage back to its dataset. Then it runs a SageMaker script-mode script as a spot training job
that is interrupted once and resumes from its checkpoint, tunes it, registers the models, approves one, and
serves both behind an endpoint split 90/10 with every request captured.
"""

from __future__ import annotations

import pickle
import tempfile
import time
from pathlib import Path
from typing import Any

import kibako

EXPERIMENT = "churn-demo"

CANDIDATES: list[tuple[str, dict[str, Any]]] = [
    ("logistic_regression", {"C": 0.1}),
    ("logistic_regression", {"C": 1.0}),
    ("random_forest", {"n_estimators": 40, "max_depth": 4}),
    ("random_forest", {"n_estimators": 40, "max_depth": 10}),
]


def make_dataset(folder: Path) -> Path:
    """A binary classification dataset as CSV (label last), the same bytes every time."""
    import numpy as np
    from sklearn.datasets import make_classification

    features, label = make_classification(
        n_samples=2000, n_features=12, n_informative=6, weights=[0.8, 0.2], random_state=7
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "churn.csv"
    header = ",".join([f"f{i}" for i in range(features.shape[1])] + ["churned"])
    np.savetxt(
        path, np.column_stack([features, label]), delimiter=",", header=header, comments="", fmt="%.6f"
    )
    return path


def build(model: str, params: dict[str, Any]) -> Any:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if model == "logistic_regression":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500, **params))
    return RandomForestClassifier(random_state=0, n_jobs=1, **params)


def train(kb: kibako.Kibako, dataset: Path, model: str, params: dict[str, Any], workdir: Path) -> str:
    """One run: cross-validated metrics per fold, then the model fitted on all data as the run's output."""
    import numpy as np
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    data = np.loadtxt(dataset, delimiter=",", skiprows=1)
    x, y = data[:, :-1], data[:, -1]
    name = model + "-" + "-".join(f"{k}{v}" for k, v in params.items())
    with kb.run(EXPERIMENT, name=name, tags={"demo": "true"}) as run:
        run.log_params({"model": model, **params, "folds": 5})
        run.log_input(dataset, name="churn.csv")
        aucs = []
        for fold, (train_idx, test_idx) in enumerate(
            StratifiedKFold(5, shuffle=True, random_state=1).split(x, y)
        ):
            fitted = build(model, params).fit(x[train_idx], y[train_idx])
            scores = fitted.predict_proba(x[test_idx])[:, 1]
            auc = float(roc_auc_score(y[test_idx], scores))
            aucs.append(auc)
            run.log_metrics(
                {"fold_auc": auc, "fold_accuracy": float(accuracy_score(y[test_idx], scores > 0.5))},
                step=fold,
            )
        run.log_metrics({"cv_auc": float(np.mean(aucs)), "cv_auc_std": float(np.std(aucs))})
        final = build(model, params).fit(x, y)
        model_path = workdir / f"{name}.pkl"
        model_path.write_bytes(pickle.dumps(final))
        run.log_output(model_path, name="model.pkl", type="Model")
    return run.id


def _training_job(kb: kibako.Kibako, dataset: Path, console: Any, err: Any) -> None:
    from kibako._demo_training import spot_job, tuning_job, write_script

    source = write_script(kb.config.home / "demo-code")
    err.print("\n[bold]Training job[/]: script mode, managed spot, one interruption injected 1 s in")
    job = spot_job(kb, source, dataset)
    desc = job.describe()
    steps = " → ".join(t["Status"] for t in desc["SecondaryStatusTransitions"])
    console.print(f"\n[bold]Training job[/] {job.name}: {desc['TrainingJobStatus']}", highlight=False)
    console.print(f"  {steps}", markup=False, highlight=False)
    training, billable = desc["TrainingTimeInSeconds"], desc["BillableTimeInSeconds"]
    console.print(
        f"  interrupted {desc.get('Interruptions', 0)} time(s); val_auc={job.metrics().get('val_auc', float('nan')):.4f}; "
        f"{training} s training, {billable} s billable (savings {100 * (1 - billable / training):.0f}%)\n"
        f"  model: {job.model_uri}\n"
        f"  kibako jobs describe {job.name}\n  kibako jobs logs {job.name}",
        markup=False,
        highlight=False,
    )
    err.print("\n[bold]Tuning job[/]: Random search over alpha, 4 trials, 2 at a time")
    tuning = tuning_job(kb, source, dataset)
    best = tuning.best or {}
    console.print(f"\n[bold]Tuning job[/] {tuning.name}: {tuning.status}", highlight=False)
    for trial in tuning.trials():
        objective = trial.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
        console.print(
            f"  {trial['TrainingJobName']:<40} alpha={trial['TunedHyperParameters']['alpha']:<24} "
            f"val_auc={objective.get('Value', float('nan')):.4f}  {trial['TrainingJobStatus']}",
            markup=False,
            highlight=False,
        )
    console.print(
        f"  best: {best.get('TrainingJobName')}\n  kibako tuning describe {tuning.name}",
        markup=False,
        highlight=False,
    )
    from kibako._demo_serving import registry_and_endpoint

    registry_and_endpoint(kb, job.name, str(best.get("TrainingJobName") or job.name), dataset, console, err)


def main(home: str | None = None) -> None:
    from rich.console import Console

    from kibako.lineage.render import render_text

    console = Console(soft_wrap=True)
    err = Console(stderr=True, soft_wrap=True)
    started = time.perf_counter()
    kb = kibako.connect(home=home) if home else kibako.connect()
    where = kb.config.home
    store = f"the server at {kb.config.uri}" if kb.config.is_remote else kb.config.database_url
    err.print(f"[bold]kibako demo[/] — store: {store}")
    dataset = make_dataset(where / "demo-data")
    with tempfile.TemporaryDirectory() as tmp:
        for model, params in CANDIDATES:
            run_id = train(kb, dataset, model, params, Path(tmp))
            run = kb.get_run(run_id)
            err.print(f"  trained {run.name:<40} cv_auc={run.metric('cv_auc'):.4f}")

    query = (
        "metrics.cv_auc > 0.8 and (params.model = 'random_forest' or params.model = 'logistic_regression')"
    )
    best = kb.search_runs(EXPERIMENT, filter=query, order_by=["metrics.cv_auc DESC"], max_results=3).runs
    console.print(f"\n[bold]Best runs[/] where {query}:")
    for run in best:
        console.print(f"  {run.name:<40} cv_auc={run.metric('cv_auc'):.4f}  id={run.id}")
    if best:
        model_ref = best[0].outputs[0]
        console.print(f"\n[bold]Lineage of the best model[/] ({model_ref.id}):")
        console.print(
            render_text(kb.lineage.query(model_ref.id, direction="up"), "up"), markup=False, highlight=False
        )
        console.print(
            "\nTry next:\n"
            f"  kibako runs list --experiment {EXPERIMENT} --order-by 'metrics.cv_auc DESC'\n"
            f"  kibako runs show {best[0].id}\n"
            f"  kibako lineage show {model_ref.id} --direction up",
            markup=False,
            highlight=False,
        )
    if not kb.config.is_remote:
        _training_job(kb, dataset, console, err)
    elapsed = time.perf_counter() - started
    if kb.config.is_remote:
        err.print(f"\nDone in {elapsed:.1f} s. The runs live on {kb.config.uri}; the dataset is in {where}.")
    else:
        err.print(f"\nDone in {elapsed:.1f} s. Your data lives in {where} (kibako.db and artifacts/).")
    kb.close()
