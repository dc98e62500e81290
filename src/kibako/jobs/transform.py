"""Batch transform jobs, read from the shape of CreateTransformJob.

A transform job runs like a processing job: its input (``TransformInput.DataSource.S3DataSource.S3Uri``, a
file or a folder) and its model (``ModelDataUrl``) are fetched into the job's folder, ``python3 -m
kibako.serving.batch`` runs there, and what it writes is uploaded to ``TransformOutput.S3OutputPath`` at the
end. The request reaching this layer already carries the model's location: ``ServingService
.create_transform_job`` resolves ``ModelName`` and adds these local fields at the top level of the request:

- ``ModelDataUrl``: the model's ``PrimaryContainer.ModelDataUrl`` (a file, a folder or a model.tar.gz);
- ``Flavor`` and ``ModelClass``: the container's local fields of the same names, when it has them;
- ``ModelEnvironment``: the container's ``Environment``, under the job's own ``Environment``.

Everything is checked here with AWS's rules, before a job exists. Defaults are written into the stored request
(as DescribeTransformJob shows them): ``BatchStrategy`` MultiRecord and ``MaxPayloadInMB`` 6 (what SageMaker
uses when neither the request nor the container says), ``MaxConcurrentTransforms`` 1, ``SplitType`` and
``CompressionType`` None, ``AssembleWith`` None, ``DataProcessing`` {$, $, None}, ``ModelClientConfig`` {600 s,
3 retries}.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kibako.core.jsonpath import JsonPath, JsonPathError, compile_path
from kibako.errors import ValidationError
from kibako.jobs.models import (
    TRANSFORM,
    Channel,
    JobSpec,
    Output,
    _environment,
    _experiment,
    _mapping,
    _name,
    _plain,
    _resources,
    _tags,
)

# Where the job sees its data (under its own /opt/ml, as a processing job sees /opt/ml/processing).
CONFIG_FILE = "/opt/ml/config/processingjobconfig.json"
INPUT_PATH = "/opt/ml/transform/input"
MODEL_PATH = "/opt/ml/model"
OUTPUT_PATH = "/opt/ml/transform/output"
FAILURE_FILE = "/opt/ml/output/failure"
COMMAND = (
    "python3", "-m", "kibako.serving.batch",
    "--config", CONFIG_FILE,
    "--input", INPUT_PATH,
    "--model", MODEL_PATH,
    "--output", OUTPUT_PATH,
    "--failure", FAILURE_FILE,
)  # fmt: skip

CSV, JSON, JSONLINES, NPY = "text/csv", "application/json", "application/jsonlines", "application/x-npy"
_JSONLINES = {JSONLINES, "application/x-jsonlines", "application/json-lines", "application/jsonl"}
SPLIT_TYPES = ("None", "Line")
UNSUPPORTED_SPLITS = ("RecordIO", "TFRecord")
STRATEGIES = ("MultiRecord", "SingleRecord")
DEFAULT_STRATEGY = "MultiRecord"  # SageMaker's own, when neither the request nor the container says
DEFAULT_PAYLOAD_MB = 6
MAX_PAYLOAD_MB = 100
DEFAULT_TIMEOUT = 600
DEFAULT_RETRIES = 3
FILTER_LENGTH = 63
MAX_ENVIRONMENT = 16


def family(content_type: str | None) -> str:
    """``csv``, ``json``, ``jsonlines``, ``npy``, ``other``, or ``""`` when no content type is given."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if not kind:
        return ""
    if kind == CSV:
        return "csv"
    if kind == JSON:
        return "json"
    if kind in _JSONLINES:
        return "jsonlines"
    if kind == NPY:
        return "npy"
    return "other"


@dataclass(frozen=True)
class Settings:
    """What the batch runtime needs from a checked request."""

    content_type: str
    accept: str
    compression: str  # None | Gzip
    split: str  # None | Line
    strategy: str  # MultiRecord | SingleRecord
    max_payload_bytes: int  # 0: no limit
    concurrency: int
    assemble_line: bool
    join: bool
    input_filter: JsonPath
    output_filter: JsonPath
    timeout: int
    retries: int
    s3_data_type: str


def settings(request: dict[str, Any]) -> Settings:
    """Check the transform parts of a CreateTransformJob request (no name or model) and read them."""
    source = _block(request, "TransformInput", required=True)
    output = _block(request, "TransformOutput", required=True)
    processing = _block(request, "DataProcessing")
    client = _block(request, "ModelClientConfig")
    split = _choice(source, "SplitType", SPLIT_TYPES + UNSUPPORTED_SPLITS, "None", "TransformInput")
    if split in UNSUPPORTED_SPLITS:
        raise ValidationError(
            f"TransformInput.SplitType {split} is not supported here (records of that binary format are not "
            "read); use Line (one record per line) or None (each file is one request)"
        )
    compression = _choice(source, "CompressionType", ("None", "Gzip"), "None", "TransformInput")
    strategy = _choice(request, "BatchStrategy", STRATEGIES, DEFAULT_STRATEGY, "")
    assemble = _choice(output, "AssembleWith", ("None", "Line"), "None", "TransformOutput")
    join = _choice(processing, "JoinSource", ("None", "Input"), "None", "DataProcessing") == "Input"
    payload = _whole(request, "MaxPayloadInMB", DEFAULT_PAYLOAD_MB, 0, MAX_PAYLOAD_MB)
    concurrency = _whole(request, "MaxConcurrentTransforms", 1, 0, 10_000) or 1
    if payload and concurrency * payload > MAX_PAYLOAD_MB:
        raise ValidationError(
            f"MaxConcurrentTransforms ({concurrency}) x MaxPayloadInMB ({payload}) must not exceed "
            f"{MAX_PAYLOAD_MB} MB, as in SageMaker"
        )
    if payload == 0 and split == "Line":
        raise ValidationError(
            "MaxPayloadInMB 0 (no limit, for payloads of any size) works only with SplitType None here: with "
            "SplitType Line records are batched up to MaxPayloadInMB, so give 1 to 100"
        )
    content_type = _text(source, "ContentType", "TransformInput")
    accept = _text(output, "Accept", "TransformOutput")
    inp, out = _filter(processing, "InputFilter"), _filter(processing, "OutputFilter")
    data_type = _data_type(source)
    _check_formats(content_type, accept, split, join, inp, out)
    return Settings(
        content_type=content_type,
        accept=accept,
        compression=compression,
        split=split,
        strategy=strategy,
        max_payload_bytes=payload * 1024 * 1024,
        concurrency=concurrency,
        assemble_line=assemble == "Line",
        join=join,
        input_filter=inp,
        output_filter=out,
        timeout=_whole(client, "InvocationsTimeoutInSeconds", DEFAULT_TIMEOUT, 1, 3600, "ModelClientConfig"),
        retries=_whole(client, "InvocationsMaxRetries", DEFAULT_RETRIES, 0, 3, "ModelClientConfig"),
        s3_data_type=data_type,
    )


def parse_transform(request: dict[str, Any]) -> JobSpec:
    """Check a CreateTransformJob request (carrying ``ModelDataUrl``) and read it into a :class:`JobSpec`."""
    req = _plain(request)
    name = _name(req, "TransformJobName")
    model_name = req.get("ModelName")
    if not isinstance(model_name, str) or not model_name:
        raise ValidationError("ModelName is required: the name of a model made with CreateModel")
    model_uri = req.get("ModelDataUrl")
    if not isinstance(model_uri, str) or not model_uri:
        raise ValidationError(
            "the request carries no ModelDataUrl: create transform jobs through the serving service "
            "(CreateTransformJob), which reads it from the model named by ModelName"
        )
    for key in ("Flavor", "ModelClass"):
        if req.get(key) is not None and not isinstance(req[key], str):
            raise ValidationError(f"{key} must be a string, got {req[key]!r}")
    if req.get("DataCaptureConfig"):
        raise ValidationError("DataCaptureConfig (batch data capture) is not supported here; leave it out")
    config = settings(req)
    source = req["TransformInput"]
    uri = _input_uri(source)
    output_path = _text(req["TransformOutput"], "S3OutputPath", "TransformOutput")
    if not output_path:
        raise ValidationError(
            "TransformOutput.S3OutputPath is required: where the results go (a path, file:// or s3:// URI)"
        )
    resources_block = req.get("TransformResources") or {}
    _mapping(resources_block, "TransformResources")
    count, instance_type, resources = _resources(resources_block, "TransformResources")
    model_env = req.get("ModelEnvironment") or {}
    _mapping(model_env, "ModelEnvironment")
    environment = _environment(req)
    if len(environment) > MAX_ENVIRONMENT:
        raise ValidationError(f"Environment holds at most {MAX_ENVIRONMENT} entries, as in SageMaker")
    _defaults(req, config)
    return JobSpec(
        kind=TRANSFORM,
        name=name,
        request=req,
        resources=resources,
        instance_count=count,
        instance_type=instance_type,
        command=COMMAND,
        channels=(
            Channel(name="input", uri=uri, local_path=INPUT_PATH, content_type=config.content_type),
            Channel(name="model", uri=model_uri, local_path=MODEL_PATH),
        ),
        outputs=(Output(name="output", uri=output_path, local_path=OUTPUT_PATH),),
        environment={**{str(k): str(v) for k, v in model_env.items()}, **environment},
        tags=_tags(req),
        experiment=_experiment(req),
    )


# -- pieces ---------------------------------------------------------------------------------------------------


def _check_formats(
    content_type: str, accept: str, split: str, join: bool, inp: JsonPath, out: JsonPath
) -> None:
    kind, answer = family(content_type), family(accept)
    processing = join or not inp.is_root or not out.is_root
    if kind == "npy" and split == "Line":
        raise ValidationError(
            "ContentType application/x-npy is binary and has no lines: use SplitType None (each file is one "
            "request)"
        )
    if answer == "npy" and split == "Line":
        raise ValidationError(
            "Accept application/x-npy cannot be split back into records: use SplitType None, or Accept "
            "text/csv or application/json"
        )
    if not processing:
        return
    if kind not in ("csv", "json", "jsonlines"):
        shown = repr(content_type) if content_type else "no ContentType"
        raise ValidationError(
            f"InputFilter, OutputFilter and JoinSource need CSV or JSON records, and the request has {shown}: "
            "set TransformInput.ContentType to text/csv, application/json or application/jsonlines"
        )
    if answer in ("npy", "other"):
        raise ValidationError(
            f"InputFilter, OutputFilter and JoinSource need CSV or JSON results: set TransformOutput.Accept "
            f"to text/csv, application/json or application/jsonlines, not {accept!r}"
        )
    if kind in ("csv", "jsonlines") and split != "Line":
        raise ValidationError(
            f"with {content_type} input, InputFilter, OutputFilter and JoinSource work record by record: set "
            "TransformInput.SplitType to Line"
        )
    if kind == "csv":
        if not inp.by_index_only:
            raise ValidationError(
                f"InputFilter {inp.text!r} selects by name, but a CSV record is an array: select columns by "
                "index, e.g. $[1:] or $[0,2]"
            )
        if join and not out.by_index_only:
            raise ValidationError(
                f"OutputFilter {out.text!r} selects by name, but a joined CSV record is an array (the input "
                "columns, then the output columns): select by index, e.g. $[0,-1]"
            )


def _defaults(req: dict[str, Any], config: Settings) -> None:
    """Write the defaults into the request, as DescribeTransformJob shows them."""
    req["BatchStrategy"] = config.strategy
    req["MaxPayloadInMB"] = config.max_payload_bytes // (1024 * 1024)
    req["MaxConcurrentTransforms"] = config.concurrency
    req["TransformInput"] = {
        **req["TransformInput"],
        "SplitType": config.split,
        "CompressionType": config.compression,
    }
    req["TransformInput"]["DataSource"]["S3DataSource"]["S3DataType"] = config.s3_data_type
    req["TransformOutput"] = {
        **req["TransformOutput"],
        "AssembleWith": "Line" if config.assemble_line else "None",
    }
    req["DataProcessing"] = {
        "InputFilter": config.input_filter.text,
        "OutputFilter": config.output_filter.text,
        "JoinSource": "Input" if config.join else "None",
    }
    req["ModelClientConfig"] = {
        "InvocationsTimeoutInSeconds": config.timeout,
        "InvocationsMaxRetries": config.retries,
    }


def _block(req: dict[str, Any], key: str, *, required: bool = False) -> dict[str, Any]:
    value = req.get(key)
    if value is None:
        if required:
            raise ValidationError(f"{key} is required")
        return {}
    _mapping(value, key)
    return value


def _choice(block: dict[str, Any], key: str, allowed: tuple[str, ...], default: str, where: str) -> str:
    value = block.get(key)
    if value is None:
        return default
    if value not in allowed:
        field = f"{where}.{key}" if where else key
        raise ValidationError(f"{field} must be one of {', '.join(allowed)}, not {value!r}")
    return str(value)


def _whole(block: dict[str, Any], key: str, default: int, low: int, high: int, where: str = "") -> int:
    value = block.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        field = f"{where}.{key}" if where else key
        raise ValidationError(f"{field} must be a whole number from {low} to {high}, got {value!r}")
    return value


def _text(block: dict[str, Any], key: str, where: str) -> str:
    value = block.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError(f"{where}.{key} must be a string, got {value!r}")
    return value


def _filter(block: dict[str, Any], key: str) -> JsonPath:
    text = block.get(key)
    if text is None or text == "":
        return compile_path("$")
    if not isinstance(text, str) or len(text) > FILTER_LENGTH:
        raise ValidationError(
            f"DataProcessing.{key} must be a JSONPath of at most {FILTER_LENGTH} characters, got {text!r}"
        )
    try:
        return compile_path(text)
    except JsonPathError as exc:
        raise ValidationError(f"DataProcessing.{key}: {exc}") from None


def _data_source(source: dict[str, Any]) -> dict[str, Any]:
    data = source.get("DataSource")
    inner = data.get("S3DataSource") if isinstance(data, dict) else None
    if not isinstance(inner, dict):
        raise ValidationError(
            "TransformInput needs DataSource.S3DataSource.S3Uri (a file, a folder, file:// or s3:// URI)"
        )
    return inner


def _data_type(source: dict[str, Any]) -> str:
    kind = _data_source(source).get("S3DataType", "S3Prefix")
    if kind in ("ManifestFile", "AugmentedManifestFile"):
        raise ValidationError(
            f"S3DataType {kind} is not supported here; give S3Prefix with the S3Uri of a file or a folder "
            "(every file under it is transformed)"
        )
    if kind != "S3Prefix":
        raise ValidationError(f"S3DataType must be S3Prefix, not {kind!r}")
    return "S3Prefix"


def _input_uri(source: dict[str, Any]) -> str:
    uri = _data_source(source).get("S3Uri")
    if not isinstance(uri, str) or not uri:
        raise ValidationError(
            "TransformInput.DataSource.S3DataSource.S3Uri is required: a file, a folder (every file under it), "
            "file:// or s3:// URI"
        )
    return uri
