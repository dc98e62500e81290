"""Broken, mismatched and unsafe model files: a ModelLoadError that names the file and the problem."""

from __future__ import annotations

import importlib.util
import io
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from kibako.errors import ModelLoadError
from kibako.inference import Handler, detect_flavor, load_model
from tests.inference._helpers import STATE_DICT_CLASS, Case, make_tar, mlmodel, write_tree


def test_truncated_pickle_is_a_load_error_naming_file_and_flavor(
    zoo: dict[str, Case], tmp_path: Path
) -> None:
    whole = zoo["sklearn-pickle"].path.read_bytes()
    broken = tmp_path / "model.pkl"
    broken.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ModelLoadError) as err:
        load_model(broken)
    assert str(broken) in err.value.message
    assert "could not be unpickled as a sklearn model" in err.value.message


def test_pickle_of_something_without_predict_is_refused(tmp_path: Path) -> None:
    import pickle

    (tmp_path / "model.pkl").write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    with pytest.raises(ModelLoadError, match=r"the loaded dict has no predict\(\) method"):
        load_model(tmp_path / "model.pkl")


def test_text_file_named_onnx_is_not_a_loadable_onnx_model(tmp_path: Path) -> None:
    fake = tmp_path / "model.onnx"
    fake.write_text("this is not a protobuf\n")
    assert detect_flavor(fake) == "onnx"
    with pytest.raises(ModelLoadError, match=r"model\.onnx is not a loadable ONNX model"):
        load_model(fake)


@pytest.mark.parametrize("asked", ["lightgbm", "sklearn", "onnx", "pytorch"])
def test_xgboost_json_asked_as_another_flavor_is_refused(zoo: dict[str, Case], asked: str) -> None:
    with pytest.raises(ModelLoadError, match=f"looks like xgboost JSON, not {asked}") as err:
        load_model(zoo["xgboost-json"].path, flavor=asked)
    assert "flavor='xgboost'" in err.value.message


def test_lightgbm_text_asked_as_xgboost_is_refused(zoo: dict[str, Case]) -> None:
    with pytest.raises(ModelLoadError, match="looks like a LightGBM text model, not xgboost"):
        load_model(zoo["lightgbm-text"].path, flavor="xgboost")


def test_torchscript_asked_as_sklearn_is_refused(zoo: dict[str, Case]) -> None:
    with pytest.raises(ModelLoadError, match="looks like a TorchScript archive, not sklearn"):
        load_model(zoo["pytorch-torchscript"].path, flavor="sklearn")


def test_a_file_asked_as_a_folder_flavor_is_refused(zoo: dict[str, Case]) -> None:
    with pytest.raises(ModelLoadError, match="a mlflow model is a folder or model.tar.gz with MLmodel"):
        load_model(zoo["sklearn-joblib"].path, flavor="mlflow")


def test_state_dict_without_model_class_says_to_pass_one(zoo: dict[str, Case]) -> None:
    with pytest.raises(ModelLoadError) as err:
        load_model(zoo["pytorch-state-dict"].path)
    assert "state dict" in err.value.message
    assert "--model-class pkg.module:Class" in err.value.message


def test_state_dict_that_does_not_fit_the_class_is_refused(zoo: dict[str, Case]) -> None:
    with pytest.raises(ModelLoadError, match="does not fit tests.inference._torch_models:OtherNet") as err:
        load_model(zoo["pytorch-state-dict"].path, model_class="tests.inference._torch_models:OtherNet")
    assert "Missing key" in err.value.message or "Unexpected key" in err.value.message


def test_model_class_in_dotted_form_works(zoo: dict[str, Case], loaded: Callable[..., Handler]) -> None:
    handler = loaded(zoo["pytorch-state-dict"].path, model_class="tests.inference._torch_models.TinyNet")
    assert handler.flavor == "pytorch"


@pytest.mark.parametrize(
    ("model_class", "message"),
    [
        ("no_such_package.models:Net", "cannot import the module 'no_such_package.models'"),
        ("tests.inference._torch_models:Missing", "has no 'Missing'"),
        (
            "tests.inference._torch_models:NeedsArguments",
            r"cannot build .*NeedsArguments\(\) with no arguments",
        ),
        ("Net", "is not a dotted path"),
        ("collections:OrderedDict", "not a torch.nn.Module"),
    ],
    ids=["no-module", "no-class", "needs-arguments", "not-dotted", "not-a-module"],
)
def test_unusable_model_class_is_named(zoo: dict[str, Case], model_class: str, message: str) -> None:
    with pytest.raises(ModelLoadError, match=message):
        load_model(zoo["pytorch-state-dict"].path, model_class=model_class)


def test_pickled_whole_module_is_refused_with_how_to_save(tmp_path: Path) -> None:
    from tests.inference._torch_models import TinyNet

    torch.save(TinyNet(), tmp_path / "whole.pt")
    with pytest.raises(ModelLoadError, match=r"torch\.jit\.save.*torch\.save\(model\.state_dict\(\), path\)"):
        load_model(tmp_path / "whole.pt", model_class=STATE_DICT_CLASS)


def test_model_class_for_a_non_pytorch_model_is_refused(zoo: dict[str, Case]) -> None:
    with pytest.raises(ModelLoadError, match="model_class is for PyTorch state dicts"):
        load_model(zoo["sklearn-joblib"].path, model_class=STATE_DICT_CLASS)


def test_garbage_xgboost_file_is_a_load_error(tmp_path: Path) -> None:
    (tmp_path / "xgboost-model").write_bytes(b"\x00\x01 definitely not a booster")
    with pytest.raises(ModelLoadError, match="xgboost-model is not an xgboost model"):
        load_model(tmp_path / "xgboost-model")


def test_unknown_file_lists_what_was_looked_for(tmp_path: Path) -> None:
    (tmp_path / "notes.bin").write_bytes(b"\x00\x00hello")
    with pytest.raises(ModelLoadError, match=r"cannot tell what model .*notes\.bin is; looked for .*MLmodel"):
        detect_flavor(tmp_path / "notes.bin")


def test_json_without_learner_is_not_xgboost(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"lr": 0.1}')
    with pytest.raises(ModelLoadError, match="without a 'learner' key is not an xgboost model"):
        detect_flavor(tmp_path / "config.json")


def test_missing_path_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="no such file or folder"):
        load_model(tmp_path / "nope.joblib")


def test_unknown_flavor_lists_the_known_ones(zoo: dict[str, Case]) -> None:
    with pytest.raises(ModelLoadError, match="unknown flavor 'keras'; it is one of sklearn, xgboost"):
        load_model(zoo["sklearn-joblib"].path, flavor="keras")


def test_empty_folder_says_no_model_was_found(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="found no model in"):
        detect_flavor(tmp_path)


def test_folder_with_two_models_asks_which(zoo: dict[str, Case], tmp_path: Path) -> None:
    data = zoo["sklearn-pickle"].path.read_bytes()
    write_tree(tmp_path, {"a.pkl": data, "b.pkl": data})
    with pytest.raises(ModelLoadError, match=r"several model files \(a\.pkl, b\.pkl\)"):
        load_model(tmp_path)


def test_folder_asked_as_a_flavor_it_lacks_names_what_it_holds(zoo: dict[str, Case], tmp_path: Path) -> None:
    write_tree(tmp_path, {"model.json": zoo["xgboost-json"].path.read_bytes()})
    with pytest.raises(ModelLoadError, match=r"holds no lightgbm model: found model\.json \(xgboost JSON\)"):
        load_model(tmp_path, flavor="lightgbm")


def test_mlflow_flavor_we_do_not_load_names_its_loader_module(tmp_path: Path) -> None:
    if importlib.util.find_spec("mlflow") is not None:
        pytest.skip("mlflow is installed here, so pyfunc would be used")
    flavors = {
        "python_function": {"loader_module": "mlflow.tensorflow"},
        "tensorflow": {"saved_model_dir": "tf"},
    }
    write_tree(tmp_path, {"MLmodel": mlmodel(flavors, signature=False, example=False)})
    with pytest.raises(ModelLoadError) as err:
        load_model(tmp_path)
    assert "mlflow.tensorflow" in err.value.message
    assert "install mlflow" in err.value.message


def test_mlmodel_without_flavors_is_refused(tmp_path: Path) -> None:
    write_tree(tmp_path, {"MLmodel": b"artifact_path: model\n"})
    with pytest.raises(ModelLoadError, match="has no 'flavors' mapping"):
        load_model(tmp_path)


def test_mlmodel_pointing_outside_its_folder_is_refused(tmp_path: Path) -> None:
    flavors = {"sklearn": {"pickled_model": "../model.pkl", "serialization_format": "pickle"}}
    write_tree(tmp_path / "m", {"MLmodel": mlmodel(flavors, signature=False, example=False)})
    (tmp_path / "model.pkl").write_bytes(b"x")
    with pytest.raises(ModelLoadError, match="points outside the model folder"):
        load_model(tmp_path / "m")


# ---- archives ---------------------------------------------------------------------------------------------


def _evil_tar(path: Path, member: tarfile.TarInfo, data: bytes = b"x") -> Path:
    with tarfile.open(path, "w:gz") as tar:
        good = tarfile.TarInfo("model.joblib")
        good.size = 1
        tar.addfile(good, io.BytesIO(b"x"))
        member.size = len(data) if member.isfile() else 0
        tar.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return path


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (_member("../escaped.txt"), "has an absolute path or a '..' segment"),
        (_member("code/../../escaped.txt"), "has an absolute path or a '..' segment"),
        (_member("/tmp/kibako-absolute.txt"), "has an absolute path or a '..' segment"),
        (_member("link", tarfile.SYMTYPE, "/etc/passwd"), "points outside the archive"),
        (_member("sub/link", tarfile.SYMTYPE, "../../outside"), "points outside the archive"),
        (_member("hard", tarfile.LNKTYPE, "../outside"), "points outside the archive"),
        (_member("fifo", tarfile.FIFOTYPE), "is a device or FIFO"),
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "abs-symlink", "rel-symlink", "hardlink", "fifo"],
)
@pytest.mark.parametrize("call", ["load_model", "detect_flavor"])
def test_archive_member_escaping_the_folder_is_refused(
    tmp_path: Path, member: tarfile.TarInfo, message: str, call: str
) -> None:
    archive = _evil_tar(tmp_path / "model.tar.gz", member)
    before = set(tmp_path.parent.iterdir())
    with pytest.raises(ModelLoadError, match=message) as err:
        (load_model if call == "load_model" else detect_flavor)(archive)
    assert "refusing to extract" in err.value.message
    assert str(archive) in err.value.message
    assert set(tmp_path.parent.iterdir()) == before
    assert not (tmp_path / "escaped.txt").exists()


def test_symlink_inside_the_archive_is_allowed(
    zoo: dict[str, Case], tmp_path: Path, loaded: Callable[..., Handler]
) -> None:
    model = zoo["sklearn-joblib"].path.read_bytes()
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        data = tarfile.TarInfo("data/model.joblib")
        data.size = len(model)
        tar.addfile(data, io.BytesIO(model))
        tar.addfile(_member("model.joblib", tarfile.SYMTYPE, "data/model.joblib"))
    handler = loaded(archive)
    assert handler.flavor == "sklearn"
    assert handler.check()[0] in (b"0\n", b"1\n")


def test_not_a_tar_is_a_load_error(tmp_path: Path) -> None:
    (tmp_path / "model.tar.gz").write_bytes(b"plain text, not gzip")
    with pytest.raises(ModelLoadError, match="is not a readable tar archive"):
        load_model(tmp_path / "model.tar.gz")


def test_error_inside_an_archive_names_the_archive_not_a_temp_folder(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "model.tar.gz", {"model.pkl": b"\x80\x04truncated"})
    with pytest.raises(ModelLoadError) as err:
        load_model(archive)
    assert f"{archive}:/model.pkl could not be unpickled" in err.value.message
    assert "kibako-model-" not in err.value.message


def test_broken_lightgbm_text_is_a_load_error(tmp_path: Path) -> None:
    (tmp_path / "model.txt").write_text("tree\nversion=v4\nnum_class=1\nthis is not a tree\n")
    assert detect_flavor(tmp_path / "model.txt") == "lightgbm"
    with pytest.raises(ModelLoadError, match=r"model\.txt is not a LightGBM model file"):
        load_model(tmp_path / "model.txt")
