"""Request and response bodies: text/csv, application/json and application/x-npy, shared by every handler.

Decoding gives a 2-D numpy array (rows of features), or a pandas DataFrame for the JSON forms that name
their columns (``dataframe_split``, ``dataframe_records``, ``inputs`` as a dict) when pandas is installed.
numpy and pandas are imported inside the functions so that importing this module stays light.
"""

from __future__ import annotations

import functools
import io
import json
import math
from collections.abc import Sequence
from typing import Any

from kibako.errors import PayloadError, UnsupportedMediaTypeError

CSV = "text/csv"
JSON = "application/json"
NPY = "application/x-npy"
READABLE: tuple[str, ...] = (CSV, JSON, NPY)
WRITABLE: tuple[str, ...] = (JSON, CSV, NPY)

# Above this size a CSV body is parsed by numpy's C reader; below it the csv-free Python loop is faster.
_LARGE_CSV = 32 * 1024
_JSON_KEYS = "dataframe_split, dataframe_records, instances or inputs"


@functools.lru_cache(maxsize=512)
def media_type(value: str | None) -> str:
    """``'Text/CSV; charset=utf-8'`` -> ``'text/csv'``: lower case, parameters dropped."""
    return (value or "").split(";", 1)[0].strip().lower()


@functools.cache
def optional_pandas() -> Any:
    try:
        import pandas
    except ImportError:
        return None
    return pandas


def decode(body: bytes, content_type: str, *, columns: Sequence[str] | None = None) -> Any:
    """Turn a request body into model input; ``columns`` are the names the model expects, when known."""
    kind = media_type(content_type)
    if kind == CSV:
        return decode_csv(body)
    if kind == JSON:
        return decode_json(body, columns=columns)
    if kind == NPY:
        return decode_npy(body)
    shown = repr(content_type) if content_type else "no Content-Type"
    raise UnsupportedMediaTypeError(
        f"cannot read a request body of {shown}; send one of: {', '.join(READABLE)}",
        content_type=content_type,
        supported=list(READABLE),
    )


# ---- CSV ------------------------------------------------------------------------------------------------


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _csv_row(fields: list[str], row: int, first: bool) -> list[float]:
    """One row's values; empty fields are missing (NaN), anything else that is not a number is an error."""
    values: list[float] = []
    for col, field in enumerate(fields, 1):
        text = field.strip()
        if not text:
            values.append(math.nan)
            continue
        try:
            values.append(float(text))
        except ValueError:
            if first and not any(_is_number(f) for f in fields if f.strip()):
                raise PayloadError(
                    "the CSV body starts with a header row "
                    f"({','.join(f.strip() for f in fields)[:80]!r}); headers are not accepted: "
                    "send rows of numbers only, in the model's feature order"
                ) from None
            raise PayloadError(f"row {row}, column {col}: {text[:40]!r} is not a number") from None
    return values


def decode_csv(body: bytes) -> Any:
    """Rows of numbers, no header; blank lines are skipped and an empty field is a missing value."""
    import numpy as np

    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PayloadError(f"the CSV body is not UTF-8 text: {exc}") from None
    if len(body) > _LARGE_CSV:
        try:
            return np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.float64, ndmin=2, comments=None)
        except ValueError:
            pass  # parsed again below, to say exactly which row is wrong
    rows: list[list[float]] = []
    width = 0
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split(",")
        if not rows:
            width = len(fields)
        elif len(fields) != width:
            raise PayloadError(f"row {number} has {len(fields)} values, expected {width}")
        try:
            rows.append([float(f) for f in fields])
        except ValueError:
            rows.append(_csv_row(fields, number, not rows))
    if not rows:
        raise PayloadError("the CSV body has no rows")
    return np.array(rows, dtype=np.float64)


# ---- JSON -----------------------------------------------------------------------------------------------


def _array(rows: list[Any], where: str) -> Any:
    import numpy as np

    try:
        return np.asarray(rows, dtype=np.float64)
    except (ValueError, TypeError):
        pass
    try:
        return np.asarray(rows, dtype=object)
    except ValueError as exc:  # inhomogeneous nesting below the first level
        raise PayloadError(f"{where}: rows are nested unevenly ({exc})") from None


def _rows(value: Any, where: str, columns: Sequence[str] | None) -> Any:
    if not isinstance(value, list):
        raise PayloadError(f"{where} must be a list of rows, got {type(value).__name__}")
    if not value:
        raise PayloadError(f"{where} has no rows")
    first = value[0]
    if isinstance(first, dict):
        return _records(value, where, columns)
    if not isinstance(first, list):
        if any(isinstance(v, list | dict) for v in value):
            raise PayloadError(f"{where}: mixes single values with lists; send a list of rows")
        return _array([value], where)  # a single flat row
    width = len(first)
    for number, row in enumerate(value, 1):
        if not isinstance(row, list):
            raise PayloadError(f"{where}: row {number} is a {type(row).__name__}, not a list")
        if len(row) != width:
            raise PayloadError(f"{where}: row {number} has {len(row)} values, expected {width}")
    return _array(value, where)


def _table(names: list[str], data: list[list[Any]], where: str, columns: Sequence[str] | None) -> Any:
    """Named columns: a DataFrame when pandas is there, else a numpy array in the model's column order."""
    for number, row in enumerate(data, 1):
        if not isinstance(row, list):
            raise PayloadError(f"{where}: row {number} is a {type(row).__name__}, not a list")
        if len(row) != len(names):
            raise PayloadError(f"{where}: row {number} has {len(row)} values, expected {len(names)}")
    if columns:
        missing = [c for c in columns if c not in names]
        if missing:
            raise PayloadError(f"{where}: missing column(s) {', '.join(map(repr, missing))}")
    pd = optional_pandas()
    if pd is not None:
        frame = pd.DataFrame(data, columns=names)
        return frame[list(columns)] if columns else frame
    if columns:
        order = [names.index(c) for c in columns]
        data = [[row[i] for i in order] for row in data]
    if not data:
        raise PayloadError(f"{where} has no rows")
    return _array(data, where)


def _records(records: list[Any], where: str, columns: Sequence[str] | None) -> Any:
    names: list[str] = []
    seen: set[str] = set()
    for number, record in enumerate(records, 1):
        if not isinstance(record, dict):
            raise PayloadError(f"{where}: record {number} is a {type(record).__name__}, not an object")
        for key in record:
            if key not in seen:
                seen.add(key)
                names.append(key)
    return _table(names, [[r.get(n) for n in names] for r in records], where, columns)


def decode_json(body: bytes, *, columns: Sequence[str] | None = None) -> Any:
    """A list of rows, one flat row, ``{"instances"}``, ``{"inputs"}``, or MLflow's dataframe forms."""
    try:
        obj = json.loads(body)
    except json.JSONDecodeError as exc:
        raise PayloadError(f"not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except UnicodeDecodeError as exc:
        raise PayloadError(f"the JSON body is not UTF-8 text: {exc}") from None
    if isinstance(obj, list):
        return _rows(obj, "the JSON body", columns)
    if not isinstance(obj, dict):
        raise PayloadError(f"the JSON body must be a list of rows or an object with {_JSON_KEYS}")
    if "dataframe_split" in obj:
        split = obj["dataframe_split"]
        if not isinstance(split, dict) or not isinstance(split.get("data"), list):
            raise PayloadError('dataframe_split must be an object with "columns" and "data"')
        data = split["data"]
        names = split.get("columns")
        if names is None:
            return _rows(data, "dataframe_split.data", None)
        if not isinstance(names, list):
            raise PayloadError("dataframe_split.columns must be a list of names")
        return _table([str(n) for n in names], data, "dataframe_split", columns)
    if "dataframe_records" in obj:
        records = obj["dataframe_records"]
        if not isinstance(records, list) or not records:
            raise PayloadError("dataframe_records must be a non-empty list of objects")
        return _records(records, "dataframe_records", columns)
    if "instances" in obj:
        return _rows(obj["instances"], "instances", columns)
    if "inputs" in obj:
        inputs = obj["inputs"]
        if isinstance(inputs, dict):
            names = [str(k) for k in inputs]
            cols = [v if isinstance(v, list) else [v] for v in inputs.values()]
            if len({len(c) for c in cols}) > 1:
                raise PayloadError("inputs: the named columns have different lengths")
            return _table(names, [list(r) for r in zip(*cols, strict=True)], "inputs", columns)
        return _rows(inputs, "inputs", columns)
    raise PayloadError(f"the JSON object must have one of the keys {_JSON_KEYS}; got {sorted(obj)[:10]}")


# ---- NPY ------------------------------------------------------------------------------------------------


def decode_npy(body: bytes) -> Any:
    """A .npy array (never pickled objects); a 1-D array is one row."""
    import numpy as np

    if not body.startswith(b"\x93NUMPY"):
        raise PayloadError("not a .npy array: the body does not start with the .npy magic bytes")
    try:
        array = np.lib.format.read_array(io.BytesIO(body), allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise PayloadError("the .npy array holds Python objects, which are refused") from None
        raise PayloadError(f"not a .npy array: {exc}") from None
    except (OSError, EOFError) as exc:
        raise PayloadError(f"not a .npy array: {exc}") from None
    if array.ndim < 2:
        array = array.reshape(1, -1)
    return array


# ---- encoding -------------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """Numpy and pandas values as plain JSON values; NaN and infinities become null."""
    import numpy as np

    if hasattr(value, "to_dict") and hasattr(value, "columns"):  # a DataFrame: MLflow answers with records
        return [_plain(r) for r in value.to_dict(orient="records")]
    if hasattr(value, "to_numpy") and not isinstance(value, np.ndarray):
        value = value.to_numpy()
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return _plain(value.item())
        if value.dtype.kind == "f":
            bad = ~np.isfinite(value)
            if bad.any():
                value = value.astype(object)
                value[bad] = None
        return value.tolist() if value.dtype.kind != "O" else [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def encode_json(prediction: Any) -> bytes:
    return json.dumps({"predictions": _plain(prediction)}, separators=(",", ":")).encode()


def _matrix(prediction: Any) -> Any:
    import numpy as np

    if hasattr(prediction, "to_numpy") and not isinstance(prediction, np.ndarray):
        prediction = prediction.to_numpy()
    array = np.asarray(prediction)
    if array.ndim == 0:
        return array.reshape(1)
    if array.ndim > 2:
        return array.reshape(array.shape[0], -1)
    return array


def _cell(value: Any) -> str:
    if isinstance(value, float) and math.isnan(value):
        return ""
    return str(value)


def encode_csv(prediction: Any) -> bytes:
    """One prediction per line; a 2-D prediction is one comma-joined row per line."""
    array = _matrix(prediction)
    values = array.tolist()
    if array.ndim == 1:
        lines = [_cell(v) for v in values]
    else:
        lines = [",".join(_cell(v) for v in row) for row in values]
    return ("\n".join(lines) + "\n").encode()


def encode_npy(prediction: Any) -> bytes:
    import numpy as np

    if hasattr(prediction, "to_numpy") and not isinstance(prediction, np.ndarray):
        prediction = prediction.to_numpy()
    array = np.asarray(prediction)
    if array.dtype.kind == "O":
        try:
            array = array.astype(np.float64)
        except (ValueError, TypeError):
            array = array.astype(str)
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def encode(prediction: Any, accept: str) -> tuple[bytes, str]:
    """Write a prediction as ``accept`` (a single media type; ``*/*`` or empty means JSON)."""
    kind = media_type(accept)
    if kind in ("", "*/*", JSON):
        return encode_json(prediction), JSON
    if kind == CSV:
        return encode_csv(prediction), CSV
    if kind == NPY:
        return encode_npy(prediction), NPY
    raise UnsupportedMediaTypeError(
        f"cannot answer in {accept!r}; this model writes: {', '.join(WRITABLE)}",
        accept=accept,
        supported=list(WRITABLE),
    )


@functools.lru_cache(maxsize=512)
def negotiate(accept: str | None, content_type: str, writable: tuple[str, ...] = WRITABLE) -> str:
    """The media type to answer in: the best of ``accept`` this handler writes.

    No Accept (or ``*/*``) means the request's own type when it can be written, else JSON.
    """
    request = media_type(content_type)
    default = request if request in writable else (JSON if JSON in writable else writable[0])
    if accept is None or not accept.strip():
        return default
    ranked: list[tuple[float, int, str]] = []
    for order, part in enumerate(accept.split(",")):
        kind, _, params = part.partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, val = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(val)
                except ValueError:
                    quality = 0.0
        if quality > 0 and kind.strip():
            ranked.append((-quality, order, kind.strip().lower()))
    for _, _, kind in sorted(ranked):
        if kind == "*/*":
            return default
        if kind.endswith("/*"):
            family = [w for w in writable if w.startswith(kind[:-1])]
            if family:
                return request if request in family else family[0]
        elif kind in writable:
            return kind
    raise UnsupportedMediaTypeError(
        f"cannot answer in {accept!r}; this model writes: {', '.join(writable)}",
        accept=accept,
        supported=list(writable),
    )
