"""Request bodies in, response bodies out: CSV, JSON and .npy, content negotiation, and their errors."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from kibako.errors import PayloadError, UnsupportedMediaTypeError
from kibako.inference import codecs

GRID = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def _floats(decoded: object) -> np.ndarray:
    return np.asarray(decoded, dtype=float)


# ---- CSV --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"1,2,3\n4,5,6\n",
        b"1,2,3\n4,5,6",
        b"1,2,3\r\n4,5,6\r\n\r\n",
        b"1, 2, 3\n4 ,5, 6\n\n\n",
        b"\xef\xbb\xbf1,2,3\n4,5,6",
    ],
    ids=["newline-end", "no-final-newline", "crlf-and-blank-tail", "spaces", "utf8-bom"],
)
def test_csv_rows_decode_to_a_float_matrix(body: bytes) -> None:
    decoded = codecs.decode(body, "text/csv")
    assert decoded.dtype == np.float64
    assert np.array_equal(decoded, GRID)


def test_csv_single_value_rows_stay_two_dimensional() -> None:
    assert codecs.decode(b"1\n2\n3\n", "text/csv").shape == (3, 1)


def test_csv_empty_field_is_a_missing_value() -> None:
    decoded = codecs.decode(b"1,,3\n", "text/csv")
    assert decoded[0, 0] == 1.0 and np.isnan(decoded[0, 1]) and decoded[0, 2] == 3.0


def test_csv_header_row_is_refused_as_a_header() -> None:
    with pytest.raises(PayloadError, match="headers are not accepted") as err:
        codecs.decode(b"age,income,score\n1,2,3\n", "text/csv")
    assert err.value.http_status == 400


def test_csv_ragged_row_is_named() -> None:
    with pytest.raises(PayloadError, match="row 3 has 2 values, expected 3"):
        codecs.decode(b"1,2,3\n4,5,6\n7,8\n", "text/csv")


def test_csv_text_value_is_named_by_row_and_column() -> None:
    with pytest.raises(PayloadError, match=r"row 2, column 3: 'abc' is not a number"):
        codecs.decode(b"1,2,3\n4,5,abc\n", "text/csv")


def test_csv_empty_body_has_no_rows() -> None:
    with pytest.raises(PayloadError, match="no rows"):
        codecs.decode(b"\n\n", "text/csv")


def test_csv_that_is_not_utf8_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="not UTF-8"):
        codecs.decode(b"1,2,\xff\n", "text/csv")


def test_large_csv_takes_the_fast_path_and_still_names_a_ragged_row() -> None:
    rows = np.arange(30000, dtype=float).reshape(-1, 3)
    body = "".join(f"{a},{b},{c}\n" for a, b, c in rows).encode()
    assert np.array_equal(codecs.decode(body, "text/csv"), rows)
    with pytest.raises(PayloadError, match="row 10001 has 2 values, expected 3"):
        codecs.decode(body + b"1,2\n", "text/csv")


# ---- JSON -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        [[1, 2, 3], [4, 5, 6]],
        {"instances": [[1, 2, 3], [4, 5, 6]]},
        {"inputs": [[1, 2, 3], [4, 5, 6]]},
        {"inputs": {"x": [1, 4], "y": [2, 5], "z": [3, 6]}},
        {"dataframe_split": {"columns": ["x", "y", "z"], "data": [[1, 2, 3], [4, 5, 6]]}},
        {"dataframe_split": {"data": [[1, 2, 3], [4, 5, 6]]}},
        {"dataframe_records": [{"x": 1, "y": 2, "z": 3}, {"x": 4, "y": 5, "z": 6}]},
        {"instances": [{"x": 1, "y": 2, "z": 3}, {"x": 4, "y": 5, "z": 6}]},
    ],
    ids=[
        "rows",
        "instances",
        "inputs",
        "inputs-columns",
        "split",
        "split-no-columns",
        "records",
        "instance-dicts",
    ],
)
def test_json_forms_decode_to_the_same_rows(payload: object) -> None:
    decoded = codecs.decode(json.dumps(payload).encode(), "application/json")
    assert np.array_equal(_floats(decoded), GRID)


def test_json_single_flat_row_is_one_row() -> None:
    decoded = codecs.decode(b"[1, 2, 3]", "application/json")
    assert decoded.shape == (1, 3)


def test_json_null_is_a_missing_value() -> None:
    decoded = codecs.decode(b"[[1, null, 3]]", "application/json")
    assert np.isnan(decoded[0, 1])


def test_json_named_columns_are_put_in_the_models_order() -> None:
    body = json.dumps(
        {"dataframe_split": {"columns": ["z", "x", "y"], "data": [[3, 1, 2], [6, 4, 5]]}}
    ).encode()
    decoded = codecs.decode(body, "application/json", columns=("x", "y", "z"))
    assert np.array_equal(_floats(decoded), GRID)


def test_json_missing_named_column_is_named() -> None:
    body = json.dumps({"dataframe_records": [{"x": 1, "y": 2}]}).encode()
    with pytest.raises(PayloadError, match="missing column.*'z'"):
        codecs.decode(body, "application/json", columns=("x", "y", "z"))


def test_json_string_values_are_kept_as_objects() -> None:
    decoded = codecs.decode(b'[["red", 1.5]]', "application/json")
    assert decoded.dtype == object and decoded[0, 0] == "red"


def test_json_dataframe_forms_are_pandas_frames_when_pandas_is_installed() -> None:
    pd = pytest.importorskip("pandas")
    body = json.dumps({"dataframe_split": {"columns": ["x", "y"], "data": [[1, 2]]}}).encode()
    decoded = codecs.decode(body, "application/json")
    assert isinstance(decoded, pd.DataFrame)
    assert list(decoded.columns) == ["x", "y"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"instances": [[1, 2]', r"not valid JSON at line 1 column 22: Expecting "),
        (b"[[1, 2],\n [3]]", r"row 2 has 1 values, expected 2"),
        (
            b'{"rows": [[1]]}',
            r"must have one of the keys dataframe_split, dataframe_records, instances or inputs",
        ),
        (b"[]", r"has no rows"),
        (b'"hello"', r"must be a list of rows or an object"),
        (b'{"instances": 5}', r"instances must be a list of rows"),
        (
            b'{"dataframe_split": {"columns": ["a"]}}',
            r'dataframe_split must be an object with "columns" and "data"',
        ),
        (
            b'{"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [3]]}}',
            r"row 2 has 1 values, expected 2",
        ),
        (b'{"inputs": {"a": [1, 2], "b": [3]}}', r"different lengths"),
        (b"[1, [2, 3]]", r"mixes single values with lists"),
    ],
    ids=[
        "truncated",
        "ragged",
        "unknown-key",
        "empty",
        "string",
        "not-a-list",
        "split-no-data",
        "split-ragged",
        "columns-uneven",
        "mixed",
    ],
)
def test_bad_json_says_what_is_wrong(body: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        codecs.decode(body, "application/json")


# ---- NPY --------------------------------------------------------------------------------------------------


def test_npy_round_trips_an_array() -> None:
    decoded = codecs.decode(_npy(GRID.astype(np.float32)), "application/x-npy")
    assert decoded.dtype == np.float32
    assert np.array_equal(decoded, GRID)


def test_npy_one_dimensional_array_is_one_row() -> None:
    assert codecs.decode(_npy(np.array([1.0, 2.0])), "application/x-npy").shape == (1, 2)


def test_npy_that_is_not_npy_is_refused() -> None:
    with pytest.raises(PayloadError, match=r"not a \.npy array"):
        codecs.decode(b"1,2,3\n", "application/x-npy")


def test_npy_with_pickled_objects_is_refused() -> None:
    with pytest.raises(PayloadError, match="Python objects"):
        codecs.decode(_npy(np.array([{"a": 1}], dtype=object)), "application/x-npy")


def test_npy_truncated_is_refused() -> None:
    with pytest.raises(PayloadError, match=r"not a \.npy array"):
        codecs.decode(_npy(GRID)[:-8], "application/x-npy")


# ---- content types ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/csv; charset=utf-8", "Text/CSV", " text/csv ;header=absent"])
def test_content_types_ignore_case_and_parameters(content_type: str) -> None:
    assert np.array_equal(codecs.decode(b"1,2,3\n4,5,6\n", content_type), GRID)


@pytest.mark.parametrize("content_type", ["application/xml", "", "text/plain"])
def test_unreadable_content_type_is_415_listing_what_is_read(content_type: str) -> None:
    with pytest.raises(UnsupportedMediaTypeError) as err:
        codecs.decode(b"<a/>", content_type)
    assert err.value.http_status == 415
    assert "text/csv, application/json, application/x-npy" in err.value.message


@pytest.mark.parametrize(
    ("accept", "content_type", "chosen"),
    [
        (None, "text/csv", "text/csv"),
        ("*/*", "application/x-npy", "application/x-npy"),
        (None, "text/csv; charset=utf-8", "text/csv"),
        ("application/json", "text/csv", "application/json"),
        ("text/html;q=0.9, text/csv;q=0.5, application/json;q=0.1", "text/csv", "text/csv"),
        ("application/json;q=0.2, text/csv", "application/json", "text/csv"),
        ("text/*", "application/json", "text/csv"),
        ("application/*", "application/x-npy", "application/x-npy"),
        ("image/png, */*;q=0.1", "text/csv", "text/csv"),
        ("APPLICATION/JSON; charset=utf-8", "text/csv", "application/json"),
    ],
)
def test_accept_picks_the_best_type_the_handler_writes(
    accept: str | None, content_type: str, chosen: str
) -> None:
    assert codecs.negotiate(accept, content_type) == chosen


def test_unwritable_request_type_answers_json_by_default() -> None:
    assert codecs.negotiate(None, "application/xml") == "application/json"


@pytest.mark.parametrize("accept", ["application/xml", "text/html, image/png", "application/json;q=0"])
def test_accept_the_handler_cannot_write_is_415(accept: str) -> None:
    with pytest.raises(
        UnsupportedMediaTypeError, match="this model writes: application/json, text/csv"
    ) as err:
        codecs.negotiate(accept, "text/csv")
    assert err.value.http_status == 415


# ---- encoding ---------------------------------------------------------------------------------------------


def test_json_output_is_predictions_with_plain_numbers_and_null_for_nan() -> None:
    body, kind = codecs.encode(np.array([1.5, np.nan, np.inf], dtype=np.float32), "application/json")
    assert kind == "application/json"
    assert json.loads(body) == {"predictions": [1.5, None, None]}


def test_json_output_turns_numpy_scalars_and_nested_values_plain() -> None:
    prediction = {"label": np.int64(3), "scores": [np.float32(0.5), float("nan")], "all": np.array([[1, 2]])}
    body, _ = codecs.encode(prediction, "application/json")
    assert json.loads(body) == {"predictions": {"label": 3, "scores": [0.5, None], "all": [[1, 2]]}}


def test_csv_output_is_one_prediction_per_line() -> None:
    body, kind = codecs.encode(np.array([0, 1, 1]), "text/csv")
    assert (body, kind) == (b"0\n1\n1\n", "text/csv")


def test_csv_output_of_a_matrix_is_comma_joined_rows() -> None:
    body, _ = codecs.encode(np.array([[0.25, 0.75], [1.0, np.nan]]), "text/csv")
    assert body == b"0.25,0.75\n1.0,\n"


def test_csv_output_of_labels_writes_the_strings() -> None:
    body, _ = codecs.encode(np.array(["cat", "dog"]), "text/csv")
    assert body == b"cat\ndog\n"


def test_npy_output_round_trips() -> None:
    body, kind = codecs.encode(np.array([[1, 2], [3, 4]], dtype=np.int32), "application/x-npy")
    assert kind == "application/x-npy"
    back = np.load(io.BytesIO(body), allow_pickle=False)
    assert back.dtype == np.int32 and back.tolist() == [[1, 2], [3, 4]]


def test_npy_output_of_object_labels_is_written_as_strings() -> None:
    body, _ = codecs.encode(np.array(["a", "b"], dtype=object), "application/x-npy")
    assert np.load(io.BytesIO(body), allow_pickle=False).tolist() == ["a", "b"]


def test_encode_to_an_unknown_type_is_415() -> None:
    with pytest.raises(UnsupportedMediaTypeError):
        codecs.encode(np.array([1]), "application/xml")
