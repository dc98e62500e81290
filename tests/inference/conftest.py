"""Real tiny models of every flavor, built once per test session, and a closing load_model."""

from __future__ import annotations

import pickle
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.inference._helpers import (
    ROWS,
    SAGEMAKER_HELPERS,
    SAGEMAKER_SCRIPT,
    STATE_DICT_CLASS,
    Case,
    X,
    Y,
    input_example_json,
    make_tar,
    mlmodel,
    onnx_model,
    sklearn_flavors,
    write_tree,
)


@pytest.fixture(scope="session")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Case]:
    """Every model kind the loader knows, saved the way its library saves it."""
    import joblib
    import lightgbm as lgb
    import torch
    import xgboost as xgb
    from sklearn.linear_model import LogisticRegression

    from tests.inference._torch_models import TinyNet

    root = tmp_path_factory.mktemp("zoo")
    cases: dict[str, Case] = {}

    sk = LogisticRegression().fit(X, Y)
    (root / "sk").mkdir()
    joblib.dump(sk, root / "sk" / "model.joblib")
    cases["sklearn-joblib"] = Case(
        root / "sk" / "model.joblib", "sklearn", sk.predict(ROWS), extra={"model": sk}
    )
    (root / "sk-pkl").mkdir()
    (root / "sk-pkl" / "model.pkl").write_bytes(pickle.dumps(sk))
    cases["sklearn-pickle"] = Case(root / "sk-pkl" / "model.pkl", "sklearn", sk.predict(ROWS))
    cases["sklearn-folder"] = Case(root / "sk", "sklearn", sk.predict(ROWS))

    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 2}, xgb.DMatrix(X, Y), num_boost_round=4
    )
    xgb_expected = booster.predict(xgb.DMatrix(ROWS))
    booster.save_model(root / "model.json")
    booster.save_model(root / "model.ubj")
    cases["xgboost-json"] = Case(root / "model.json", "xgboost", xgb_expected, extra={"booster": booster})
    cases["xgboost-ubj"] = Case(root / "model.ubj", "xgboost", xgb_expected)
    job = make_tar(root / "xgb-job.tar.gz", {"xgboost-model": bytes(booster.save_raw("ubj"))})
    cases["xgboost-training-job-tar"] = Case(job, "xgboost", xgb_expected)
    (root / "xgb-pickled").mkdir()
    (root / "xgb-pickled" / "xgboost-model").write_bytes(pickle.dumps(booster))
    cases["xgboost-pickled"] = Case(root / "xgb-pickled" / "xgboost-model", "xgboost", xgb_expected)

    params = {"objective": "binary", "verbose": -1, "min_data_in_leaf": 5, "num_leaves": 4}
    lgb_booster = lgb.train(params, lgb.Dataset(X, Y), num_boost_round=4)
    lgb_booster.save_model(str(root / "lgb.txt"))
    cases["lightgbm-text"] = Case(root / "lgb.txt", "lightgbm", lgb_booster.predict(ROWS))

    torch.manual_seed(0)
    net = TinyNet().eval()
    with torch.no_grad():
        torch_expected = net(torch.tensor(ROWS, dtype=torch.float32)).numpy()
    torch.jit.save(torch.jit.script(net), str(root / "scripted.pt"))
    torch.save(net.state_dict(), root / "weights.pth")
    cases["pytorch-torchscript"] = Case(root / "scripted.pt", "pytorch", torch_expected)
    cases["pytorch-state-dict"] = Case(root / "weights.pth", "pytorch", torch_expected, STATE_DICT_CLASS)

    cases["onnx"] = Case(root / "tiny.onnx", "onnx", onnx_model(root / "tiny.onnx"))

    import cloudpickle

    mlflow_dir = write_tree(
        root / "mlflow-sk",
        {
            "MLmodel": mlmodel(sklearn_flavors("cloudpickle")),
            "model.pkl": cloudpickle.dumps(sk),
            "input_example.json": input_example_json(),
            "requirements.txt": b"scikit-learn\n",
        },
    )
    cases["mlflow-sklearn"] = Case(mlflow_dir, "mlflow", sk.predict(ROWS))

    script = textwrap.dedent(SAGEMAKER_SCRIPT).encode()
    model_bytes = (root / "sk" / "model.joblib").read_bytes()
    sm_files = {
        "model.joblib": model_bytes,
        "code/inference.py": script,
        "code/helpers.py": SAGEMAKER_HELPERS.encode(),
        "code/requirements.txt": b"this-package-does-not-exist==0.0.1\n",
    }
    scores = sk.predict_proba(ROWS)[:, 1]
    cases["sagemaker-tar"] = Case(make_tar(root / "model.tar.gz", sm_files), "sagemaker", scores)
    cases["sagemaker-folder"] = Case(write_tree(root / "sm-folder", sm_files), "sagemaker", scores)
    plain = make_tar(root / "plain.tar.gz", {"model.joblib": model_bytes})
    cases["sklearn-tar"] = Case(plain, "sklearn", sk.predict(ROWS))
    return cases


@pytest.fixture
def loaded() -> Iterator[Callable[..., Any]]:
    """load_model, closing every handler at the end of the test."""
    from kibako.inference import load_model

    handlers: list[Any] = []

    def _load(path: Path, **kwargs: Any) -> Any:
        handler = load_model(path, **kwargs)
        handlers.append(handler)
        return handler

    yield _load
    for handler in handlers:
        handler.close()
