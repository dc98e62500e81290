"""SageMaker model.tar.gz with code/inference.py: the four functions, their fallbacks, and the sandboxing."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from kibako.errors import ModelLoadError, PayloadError, UnsupportedMediaTypeError
from kibako.inference import Handler, load_model
from tests.inference._helpers import ROWS, Case, answer, make_tar, request, same, write_tree


def _rows_json(rows: np.ndarray) -> bytes:
    return json.dumps({"rows": rows.tolist()}).encode()


@pytest.mark.parametrize("name", ["sagemaker-tar", "sagemaker-folder"])
def test_all_four_functions_are_used(zoo: dict[str, Case], loaded: Callable[..., Handler], name: str) -> None:
    handler = loaded(zoo[name].path)
    assert handler.flavor == "sagemaker"
    body, kind = handler.invoke(_rows_json(ROWS), "application/json")  # input_fn reads {"rows": ...}
    answer_ = json.loads(body)
    assert kind == "application/json"  # from output_fn's (body, content_type) tuple
    assert answer_["accept"] == "application/json"  # no Accept: SageMaker's default JSON
    assert same(np.asarray(answer_["scores"]), zoo[name].expected)  # predict_fn: positive-class scores


def test_output_fn_returning_a_string_answers_in_the_accept_type(
    zoo: dict[str, Case], loaded: Callable[..., Handler]
) -> None:
    handler = loaded(zoo["sagemaker-tar"].path)
    body, kind = handler.invoke(request(ROWS, "text/csv"), "text/csv", "text/csv")
    assert kind == "text/csv"
    assert same(np.loadtxt(body.decode().splitlines()), zoo["sagemaker-tar"].expected)


def test_value_error_in_input_fn_is_a_payload_error_with_its_message(
    zoo: dict[str, Case], loaded: Callable[..., Handler]
) -> None:
    handler = loaded(zoo["sagemaker-tar"].path)
    with pytest.raises(
        PayloadError, match="this model reads application/json or text/csv, not application/x-npy"
    ):
        handler.invoke(request(ROWS, "application/x-npy"), "application/x-npy")
    with pytest.raises(
        PayloadError, match="Expecting property name enclosed in double quotes"
    ):  # a ValueError
        handler.invoke(b"{not json", "application/json")


def test_other_errors_in_user_code_propagate_as_they_are(
    tmp_path: Path, loaded: Callable[..., Handler]
) -> None:
    script = """
        class Model:
            def predict(self, data):
                raise RuntimeError("the GPU caught fire")

        def model_fn(model_dir):
            return Model()
    """
    write_tree(tmp_path, {"code/inference.py": textwrap.dedent(script).encode()})
    handler = loaded(tmp_path)
    with pytest.raises(RuntimeError, match="the GPU caught fire"):
        handler.invoke(b"1,2\n", "text/csv")
    with pytest.raises(
        ModelLoadError, match="could not predict its sample: RuntimeError: the GPU caught fire"
    ):
        handler.check((b"1,2\n", "text/csv"))


def test_missing_functions_fall_back_to_codecs_and_predict(
    zoo: dict[str, Case], tmp_path: Path, loaded: Callable[..., Handler]
) -> None:
    script = """
        import os
        import joblib

        def model_fn(model_dir):
            return joblib.load(os.path.join(model_dir, "model.joblib"))
    """
    folder = write_tree(
        tmp_path,
        {
            "model.joblib": zoo["sklearn-joblib"].path.read_bytes(),
            "code/inference.py": textwrap.dedent(script).encode(),
        },
    )
    handler = loaded(folder)
    assert handler.sample_payload() == (b"0,0,0,0\n", "text/csv")  # from the model model_fn returned
    for content_type in ("text/csv", "application/json", "application/x-npy"):
        body, kind = handler.invoke(request(ROWS, content_type), content_type)
        assert kind == content_type
        assert same(answer(body, kind), zoo["sklearn-joblib"].expected)
    with pytest.raises(UnsupportedMediaTypeError):
        handler.invoke(request(ROWS, "text/csv"), "text/csv", "application/xml")


def test_transform_fn_replaces_the_other_three(tmp_path: Path, loaded: Callable[..., Handler]) -> None:
    script = """
        def model_fn(model_dir):
            return "echo"

        def transform_fn(model, body, content_type, accept):
            return body.upper(), "text/plain"
    """
    write_tree(tmp_path, {"code/inference.py": textwrap.dedent(script).encode()})
    assert loaded(tmp_path).invoke(b"hello", "text/plain") == (b"HELLO", "text/plain")


def test_code_folder_is_on_sys_path_only_while_loading(
    zoo: dict[str, Case], loaded: Callable[..., Handler]
) -> None:
    handler = loaded(zoo["sagemaker-folder"].path)
    code = str(zoo["sagemaker-folder"].path / "code")
    assert code not in sys.path
    assert "helpers" not in sys.modules
    assert handler.module.__name__.startswith("kibako_sagemaker_inference_")  # type: ignore[attr-defined]
    assert handler.invoke(_rows_json(ROWS[:1]), "application/json")[1] == "application/json"


def test_two_models_with_same_named_helpers_do_not_mix(
    tmp_path: Path, loaded: Callable[..., Handler]
) -> None:
    script = """
        import helpers

        class Model:
            def predict(self, data):
                return [helpers.ANSWER] * len(data)

        def model_fn(model_dir):
            return Model()
    """
    handlers = []
    for answer_ in (1, 2):
        folder = write_tree(
            tmp_path / f"m{answer_}",
            {
                "code/inference.py": textwrap.dedent(script).encode(),
                "code/helpers.py": f"ANSWER = {answer_}\n".encode(),
            },
        )
        handlers.append(loaded(folder))
    assert [h.invoke(b"0\n", "text/csv")[0] for h in handlers] == [b"1\n", b"2\n"]


def test_requirements_txt_is_ignored_not_installed(
    zoo: dict[str, Case], loaded: Callable[..., Handler]
) -> None:
    # the fixture's code/requirements.txt names a package that does not exist: loading must not try pip
    assert (zoo["sagemaker-folder"].path / "code" / "requirements.txt").exists()
    assert loaded(zoo["sagemaker-folder"].path).flavor == "sagemaker"


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("def input_fn(body, content_type):\n    return body\n", r"defines no model_fn\(model_dir\)"),
        (
            "raise ImportError('no module named tensorflow')\n",
            "failed to import: ImportError: no module named",
        ),
        (
            "def model_fn(model_dir):\n    raise FileNotFoundError('model.pth')\n",
            "model_fn in .* failed: FileNotFoundError",
        ),
        ("def model_fn(model_dir):\n    return 42\n", r"returned a int, which has no predict\(\)"),
    ],
    ids=["no-model-fn", "import-fails", "model-fn-fails", "no-predict"],
)
def test_broken_inference_script_is_a_load_error(tmp_path: Path, script: str, message: str) -> None:
    archive = make_tar(tmp_path / "model.tar.gz", {"code/inference.py": script.encode()})
    before = set(sys.modules)
    with pytest.raises(ModelLoadError, match=message):
        load_model(archive)
    assert not [m for m in set(sys.modules) - before if m.startswith("kibako_sagemaker_inference_")]


def test_close_removes_the_extraction_folder(zoo: dict[str, Case]) -> None:
    handler = load_model(zoo["sagemaker-tar"].path)
    model_dir = handler.model_dir  # type: ignore[attr-defined]
    assert (model_dir / "code" / "inference.py").exists()
    assert handler.path == zoo["sagemaker-tar"].path
    handler.close()
    assert not model_dir.exists()
    handler.close()  # a second close is harmless


def test_sagemaker_flavor_asked_for_a_folder_without_code_is_refused(tmp_path: Path) -> None:
    (tmp_path / "model.joblib").write_bytes(b"x")
    with pytest.raises(ModelLoadError, match=r"has no code/inference\.py, so it is not a sagemaker model"):
        load_model(tmp_path, flavor="sagemaker")
