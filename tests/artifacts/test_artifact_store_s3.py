"""S3 specifics: where the endpoint comes from, and what lands in the bucket (against a real moto server)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from kibako.artifacts import ArtifactStore
from kibako.artifacts._remote import resolve_storage_options
from kibako.errors import ValidationError


@pytest.mark.parametrize(
    ("uri", "options", "env", "expected"),
    [
        pytest.param(
            "s3://b/p",
            None,
            {"KIBAKO_S3_ENDPOINT_URL": "http://kibako:1", "AWS_ENDPOINT_URL": "http://aws:2"},
            {"client_kwargs": {"endpoint_url": "http://kibako:1"}},
            id="kibako-variable-wins-over-aws",
        ),
        pytest.param(
            "s3://b/p",
            None,
            {"AWS_ENDPOINT_URL": "http://aws:2"},
            {"client_kwargs": {"endpoint_url": "http://aws:2"}},
            id="aws-variable-alone",
        ),
        pytest.param(
            "s3://b/p",
            {"client_kwargs": {"endpoint_url": "http://explicit:3"}},
            {"KIBAKO_S3_ENDPOINT_URL": "http://kibako:1"},
            {"client_kwargs": {"endpoint_url": "http://explicit:3"}},
            id="explicit-client-kwargs-win",
        ),
        pytest.param(
            "s3://b/p",
            {"endpoint_url": "http://explicit:3"},
            {"KIBAKO_S3_ENDPOINT_URL": "http://kibako:1"},
            {"endpoint_url": "http://explicit:3"},
            id="explicit-endpoint-url-wins",
        ),
        pytest.param(
            "s3://b/p",
            {"client_kwargs": {"region_name": "eu-west-1"}, "anon": False},
            {"KIBAKO_S3_ENDPOINT_URL": "http://kibako:1"},
            {"client_kwargs": {"region_name": "eu-west-1", "endpoint_url": "http://kibako:1"}, "anon": False},
            id="other-client-kwargs-kept",
        ),
        pytest.param("s3://b/p", None, {"KIBAKO_S3_ENDPOINT_URL": ""}, {}, id="no-endpoint-set"),
        pytest.param(
            "gs://b/p",
            None,
            {"KIBAKO_S3_ENDPOINT_URL": "http://kibako:1"},
            {},
            id="other-protocols-untouched",
        ),
    ],
)
def test_s3_endpoint_comes_from_the_environment_unless_given(
    uri: str, options: dict[str, Any] | None, env: dict[str, str], expected: dict[str, Any]
) -> None:
    assert resolve_storage_options(uri, options, env) == expected


def test_resolving_options_does_not_change_the_callers_dict() -> None:
    options = {"client_kwargs": {"region_name": "eu-west-1"}}
    resolve_storage_options("s3://b", options, {"AWS_ENDPOINT_URL": "http://aws:2"})
    assert options == {"client_kwargs": {"region_name": "eu-west-1"}}


def test_unknown_protocol_is_a_clear_error() -> None:
    with pytest.raises(ValidationError, match="cannot open the artifact store 'nosuchproto://x'"):
        ArtifactStore("nosuchproto://x")


@pytest.mark.slow
def test_s3_store_reaches_the_endpoint_named_in_the_environment(s3_env: str, s3_bucket: str) -> None:
    import boto3

    prefix = uuid.uuid4().hex
    store = ArtifactStore(f"s3://{s3_bucket}/{prefix}/")
    stored = store.put_bytes(b"through moto", "models/m.bin")
    assert stored.uri == f"s3://{s3_bucket}/{prefix}/models/m.bin"
    assert repr(store) == f"ArtifactStore('s3://{s3_bucket}/{prefix}')"
    client = boto3.client("s3", endpoint_url=s3_env)
    body = client.get_object(Bucket=s3_bucket, Key=f"{prefix}/models/m.bin")["Body"].read()
    assert body == b"through moto"


@pytest.mark.slow
def test_s3_store_sees_objects_written_by_someone_else(s3_env: str, s3_bucket: str) -> None:
    import boto3

    prefix = uuid.uuid4().hex
    store = ArtifactStore(f"s3://{s3_bucket}/{prefix}")
    store.put_bytes(b"1", "a/mine")
    assert [e.key for e in store.list("a")] == ["a/mine"]
    # Another process writes behind this store's back; a cached listing must not hide it.
    boto3.client("s3", endpoint_url=s3_env).put_object(Bucket=s3_bucket, Key=f"{prefix}/a/theirs", Body=b"2")
    assert [e.key for e in store.list("a")] == ["a/mine", "a/theirs"]
    assert store.get_bytes("a/theirs") == b"2"


@pytest.mark.slow
def test_s3_write_abandoned_midway_never_reaches_the_bucket(s3_env: str, s3_bucket: str) -> None:
    import boto3

    prefix = uuid.uuid4().hex
    store = ArtifactStore(f"s3://{s3_bucket}/{prefix}")
    with pytest.raises(RuntimeError), store.open("partial", "wb") as f:
        f.write(b"x" * 1024)
        raise RuntimeError("interrupted")
    listed = boto3.client("s3", endpoint_url=s3_env).list_objects_v2(Bucket=s3_bucket, Prefix=prefix)
    assert listed.get("KeyCount", 0) == 0
