"""The command line: forms from CLI.md, --json output, exit codes, and a fast --help."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import kibako
from kibako.cli._app import app

runner = CliRunner()


@pytest.fixture
def populated(home: Path, tmp_path: Path) -> dict[str, str]:
    kb = kibako.connect(home=str(home))
    data = tmp_path / "d.csv"
    data.write_text("x\n1\n")
    model = tmp_path / "m.bin"
    model.write_bytes(b"m")
    ids = {}
    for name, auc in (("a", 0.7), ("b", 0.9)):
        with kb.run("cli", name=name) as run:
            run.log_params({"model": "rf", "depth": 3 if name == "a" else 5})
            run.log_metric("auc", auc)
            run.log_input(data)
            ids[name] = run.id
            ids[f"{name}-model"] = run.log_output(model, name=f"{name}.bin")
    kb.close()
    return ids


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout


def test_version_prints_the_version() -> None:
    assert invoke("version") == (0, kibako.__version__ + "\n")


def test_experiments_list_json(populated: dict[str, str]) -> None:
    code, out = invoke("experiments", "list", "--json")
    assert code == 0
    assert [e["name"] for e in json.loads(out)["experiments"]] == ["cli"]


def test_runs_list_filters_and_orders(populated: dict[str, str]) -> None:
    code, out = invoke(
        "runs", "list", "--filter", "params.model = 'rf'", "--order-by", "metrics.auc DESC", "--json"
    )
    assert code == 0
    assert [r["name"] for r in json.loads(out)["runs"]] == ["b", "a"]
    code, out = invoke("runs", "list", "--experiment", "cli")
    assert code == 0 and "auc" in out


def test_runs_show_json_has_params_metrics_and_io(populated: dict[str, str]) -> None:
    code, out = invoke("runs", "show", populated["b"], "--json")
    run = json.loads(out)
    assert code == 0
    assert run["params"] == {"model": "rf", "depth": "5"}
    assert run["metrics"]["auc"]["last"] == 0.9
    assert run["inputs"][0]["type"] == "Dataset" and run["outputs"][0]["type"] == "Model"


def test_runs_compare_hides_identical_params(populated: dict[str, str]) -> None:
    code, out = invoke("runs", "compare", populated["a"], populated["b"], "--json")
    assert code == 0
    assert json.loads(out)["params"] == {"depth": ["3", "5"]}


def test_lineage_show_draws_the_model_back_to_its_data(populated: dict[str, str]) -> None:
    code, out = invoke("lineage", "show", populated["b-model"], "--direction", "up")
    assert code == 0
    assert "Produced: Run b" in out and "ContributedTo: Dataset d.csv" in out
    code, out = invoke("lineage", "show", populated["b-model"], "--direction", "up", "--json")
    assert {v["Type"] for v in json.loads(out)["Vertices"]} == {"Model", "Run", "Dataset"}


def test_lineage_show_exports_openlineage(populated: dict[str, str]) -> None:
    code, out = invoke("lineage", "show", populated["a"], "--openlineage")
    assert code == 0 and [e["eventType"] for e in json.loads(out)] == ["START", "COMPLETE"]


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["runs", "show", "nope"], 1, "no run with id"),
        (["runs", "list", "--filter", "metrics.auc >"], 1, "position"),
        (["runs", "list", "--bogus"], 2, "No such option"),
        (["tokens", "create", "--role", "king"], 1, "role must be one of"),
    ],
    ids=["unknown-run", "bad-filter", "usage", "bad-role"],
)
def test_errors_exit_with_the_documented_codes(
    populated: dict[str, str], args: list[str], code: int, words: str
) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == code
    assert words in result.stderr
    assert "Traceback" not in result.stderr


def test_tokens_create_prints_the_token_once(home: Path) -> None:
    code, out = invoke("tokens", "create", "--role", "viewer", "--json")
    assert code == 0 and json.loads(out)["token"].startswith("kb_")
    code, out = invoke("tokens", "list", "--json")
    assert "token" not in json.loads(out)["tokens"][0]


def test_help_is_fast_and_imports_nothing_heavy() -> None:
    probe = (
        "import sys, time; t = time.perf_counter(); from kibako.cli._app import app; "
        "import typer.main; cmd = typer.main.get_command(app); "
        "print(time.perf_counter() - t); "
        "print(sorted(m for m in ('sqlalchemy', 'fastapi', 'uvicorn', 'pandas', 'numpy', 'torch', 'ray') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[1] == "[]", f"--help imported {out[1]}"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "kibako.cli", "--help"], capture_output=True, check=True)
    assert time.perf_counter() - started < 5, "a generous bound; the benchmark of record is docs/cli.md"
