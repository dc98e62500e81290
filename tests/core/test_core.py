"""Ids, ARNs, configuration and the wire form: the pure building blocks."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kibako.core.config import Config
from kibako.core.ids import arn, id_to_uuid, new_id, parse_arn
from kibako.core.wire import decode, encode
from kibako.tracking.models import MetricSummary


def test_ids_are_unique_sortable_and_26_characters() -> None:
    ids = [new_id() for _ in range(2000)]
    assert len(set(ids)) == 2000
    assert all(len(i) == 26 and i.isalnum() and i == i.lower() for i in ids)
    assert ids[0] <= ids[-1], "time-ordered"


def test_id_maps_to_a_distinct_uuid() -> None:
    first, second = new_id(), new_id()
    assert len(id_to_uuid(first)) == 36
    assert id_to_uuid(first) != id_to_uuid(second)


def test_arn_has_aws_shape_and_parses_back() -> None:
    value = arn("experiment", "churn", region="ap-northeast-1", account="123456789012")
    assert value == "arn:aws:sagemaker:ap-northeast-1:123456789012:experiment/churn"
    assert parse_arn(value) == ("experiment", "churn")
    assert parse_arn("not-an-arn") is None


def test_config_defaults_live_under_home(tmp_path: Path) -> None:
    config = Config.from_env({"KIBAKO_HOME": str(tmp_path)})
    assert config.database_url == f"sqlite:///{tmp_path / 'kibako.db'}"
    assert config.artifact_uri == str(tmp_path / "artifacts")
    assert (config.region, config.account, config.executor) == ("us-east-1", "000000000000", "local")
    assert not config.is_remote


def test_config_reads_every_variable(tmp_path: Path) -> None:
    config = Config.from_env(
        {
            "KIBAKO_HOME": str(tmp_path),
            "KIBAKO_DATABASE_URL": "postgresql+psycopg://u@h/db",
            "KIBAKO_ARTIFACT_URI": "s3://bucket/prefix",
            "KIBAKO_URI": "http://127.0.0.1:8080",
            "KIBAKO_TOKEN": "kb_x",
            "KIBAKO_EXECUTOR": "ray",
            "KIBAKO_REGION": "ap-northeast-1",
            "KIBAKO_ACCOUNT": "123456789012",
        }
    )
    assert config.database_url == "postgresql+psycopg://u@h/db"
    assert config.artifact_uri == "s3://bucket/prefix", "URLs are kept as they are"
    assert config.is_remote and config.token == "kb_x" and config.executor == "ray"
    assert (config.region, config.account) == ("ap-northeast-1", "123456789012")


def test_relative_artifact_folder_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = Config.from_env({"KIBAKO_HOME": str(tmp_path), "KIBAKO_ARTIFACT_URI": "store/art"})
    assert config.artifact_uri == str(tmp_path / "store" / "art")


def test_wire_round_trips_dataclasses_times_and_special_floats() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    value = {
        "s": MetricSummary("k", 2, None, 1.0, math.inf, None, -math.inf, 3, when),
        "when": when,
        "t": (1, 2),
    }
    back = decode(encode(value))
    assert back["s"] == value["s"] and back["when"] == when and back["t"] == [1, 2]


def test_wire_refuses_unknown_types() -> None:
    with pytest.raises(TypeError, match="cannot send"):
        encode(object())
    with pytest.raises(TypeError, match="unknown wire type"):
        decode({"__type__": "os.system"})
