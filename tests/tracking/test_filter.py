"""The run search language: what parses to which AST, and where each error points."""

from __future__ import annotations

import pytest

from kibako.errors import FilterSyntaxError, ValidationError
from kibako.tracking.filter import And, Comparison, Or, OrderKey, parse, parse_order_by

M, P, T, A = "metric", "param", "tag", "attribute"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("metrics.auc > 0.9", Comparison(M, "auc", ">", 0.9), id="metric-gt"),
        pytest.param("metric.auc >= 1", Comparison(M, "auc", ">=", 1), id="singular-prefix"),
        pytest.param("metrics.loss < -1e-3", Comparison(M, "loss", "<", -0.001), id="negative-exponent"),
        pytest.param("metrics.loss <= 2E5", Comparison(M, "loss", "<=", 200000.0), id="upper-exponent"),
        pytest.param("metrics.x != .5", Comparison(M, "x", "!=", 0.5), id="leading-dot"),
        pytest.param("metrics.x=-1", Comparison(M, "x", "=", -1), id="no-spaces"),
        pytest.param("metrics.x IS NULL", Comparison(M, "x", "IS NULL", None), id="metric-is-null"),
        pytest.param("params.model = 'xgb'", Comparison(P, "model", "=", "xgb"), id="param-single-quotes"),
        pytest.param('param.model != "xgb"', Comparison(P, "model", "!=", "xgb"), id="param-double-quotes"),
        pytest.param("params.m LIKE 'x%'", Comparison(P, "m", "LIKE", "x%"), id="like"),
        pytest.param("params.m ilike 'X%'", Comparison(P, "m", "ILIKE", "X%"), id="ilike-lower-case"),
        pytest.param("params.m IN ('a', \"b\")", Comparison(P, "m", "IN", ("a", "b")), id="in-list"),
        pytest.param("params.m not in ('a')", Comparison(P, "m", "NOT IN", ("a",)), id="not-in"),
        pytest.param("params.m is not null", Comparison(P, "m", "IS NOT NULL", None), id="is-not-null"),
        pytest.param("tags.team = 'vision'", Comparison(T, "team", "=", "vision"), id="tag"),
        pytest.param("tag.`a-b` = 'x'", Comparison(T, "a-b", "=", "x"), id="backtick-key"),
        pytest.param('metrics."val loss" < 1', Comparison(M, "val loss", "<", 1), id="double-quoted-key"),
        pytest.param(
            "metrics.train/loss.epoch > 0", Comparison(M, "train/loss.epoch", ">", 0), id="key-dots-slashes"
        ),
        pytest.param("metrics.validation:auc > 0", Comparison(M, "validation:auc", ">", 0), id="key-colon"),
        pytest.param("params.x = 'it\\'s'", Comparison(P, "x", "=", "it's"), id="escaped-quote"),
        pytest.param('params.x = "say \\"hi\\""', Comparison(P, "x", "=", 'say "hi"'), id="escaped-dquote"),
        pytest.param("params.x = 'a\\\\b'", Comparison(P, "x", "=", "a\\b"), id="escaped-backslash"),
        pytest.param("params.x LIKE '50\\%'", Comparison(P, "x", "LIKE", "50\\%"), id="like-escape-kept"),
        pytest.param("params.x = ''", Comparison(P, "x", "=", ""), id="empty-string"),
        pytest.param("attributes.status = 'Failed'", Comparison(A, "status", "=", "Failed"), id="status"),
        pytest.param("attribute.name = 'a'", Comparison(A, "run_name", "=", "a"), id="name-alias"),
        pytest.param("run_name = 'a'", Comparison(A, "run_name", "=", "a"), id="bare-attribute"),
        pytest.param("attributes.start_time >= 1e3", Comparison(A, "start_time", ">=", 1000), id="time-exp"),
        pytest.param(
            "attributes.end_time IS NULL", Comparison(A, "end_time", "IS NULL", None), id="end-null"
        ),
        pytest.param("attributes.created < 5", Comparison(A, "created", "<", 5), id="created"),
        pytest.param("attributes.run_id IN ('a')", Comparison(A, "run_id", "IN", ("a",)), id="run-id-in"),
        pytest.param(
            "attributes.experiment_id = '1'", Comparison(A, "experiment_id", "=", "1"), id="experiment-id"
        ),
    ],
)
def test_single_comparison_parses(text: str, expected: Comparison) -> None:
    assert parse(text) == expected


def test_start_time_value_is_an_integer() -> None:
    node = parse("attributes.start_time > 1e3")
    assert isinstance(node, Comparison) and type(node.value) is int


@pytest.mark.parametrize("text", ["", "   ", "\n\t"], ids=["empty", "spaces", "whitespace"])
def test_empty_filter_is_none(text: str) -> None:
    assert parse(text) is None


a, b, c = (Comparison(M, k, ">", 1) for k in "abc")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("metrics.a > 1 and metrics.b > 1", And((a, b)), id="and"),
        pytest.param("metrics.a > 1 OR metrics.b > 1", Or((a, b)), id="or-upper"),
        pytest.param(
            "metrics.a > 1 or metrics.b > 1 and metrics.c > 1", Or((a, And((b, c)))), id="and-first"
        ),
        pytest.param("metrics.a > 1 and metrics.b > 1 or metrics.c > 1", Or((And((a, b)), c)), id="and-left"),
        pytest.param("(metrics.a > 1 or metrics.b > 1) and metrics.c > 1", And((Or((a, b)), c)), id="parens"),
        pytest.param("metrics.a > 1 and metrics.b > 1 and metrics.c > 1", And((a, b, c)), id="and-chain"),
        pytest.param("((metrics.a > 1))", a, id="nested-parens"),
        pytest.param("metrics.a>1 And(metrics.b>1 Or metrics.c>1)", And((a, Or((b, c)))), id="tight"),
    ],
)
def test_and_binds_tighter_than_or(text: str, expected: object) -> None:
    assert parse(text) == expected


def test_keyword_like_key_is_a_key() -> None:
    assert parse("params.and = 'or'") == Comparison(P, "and", "=", "or")


ERRORS = [
    # (text, position, words the message must contain)
    pytest.param("metricz.x > 1", 0, "unknown prefix 'metricz'", id="unknown-prefix"),
    pytest.param("attributes.user = 'a'", 11, "unknown attribute 'user'", id="unknown-attribute"),
    pytest.param("foo = 'a'", 0, "expected an identifier", id="bare-unknown-word"),
    pytest.param("metrics. > 1", 8, "expected a name after 'metrics.'", id="empty-key"),
    pytest.param("`x` = 'a'", 0, "needs a prefix", id="quoted-key-without-prefix"),
    pytest.param("metrics.x LIKE 'a'", 10, "LIKE is not allowed on metrics", id="like-on-metric"),
    pytest.param("params.x > 'a'", 9, "> is not allowed on params", id="gt-on-param"),
    pytest.param("tags.x < 'a'", 7, "< is not allowed on tags", id="lt-on-tag"),
    pytest.param("attributes.status > 'a'", 18, "> is not allowed on attributes.status", id="gt-on-status"),
    pytest.param("attributes.start_time LIKE '1'", 22, "LIKE is not allowed", id="like-on-time"),
    pytest.param("attributes.status IS NULL", 18, "IS NULL is not allowed", id="null-on-status"),
    pytest.param("params.lr = 0.1", 12, "params are strings: quote the value", id="param-number"),
    pytest.param("tags.v = 3", 9, "tags are strings", id="tag-number"),
    pytest.param("attributes.status = 1", 20, "attributes.status is a string", id="status-number"),
    pytest.param("metrics.x = 'a'", 12, "metrics are numbers", id="metric-string"),
    pytest.param("attributes.end_time > '5'", 22, "attributes.end_time is a number", id="time-string"),
    pytest.param("attributes.start_time > 1.5", 24, "whole milliseconds", id="time-fraction"),
    pytest.param("params.x = 'abc", 11, "unterminated string", id="unterminated-string"),
    pytest.param('params.x = "abc\\"', 11, "unterminated string", id="unterminated-escaped"),
    pytest.param("params.`abc = 'x'", 7, "unterminated quoted name", id="unterminated-key"),
    pytest.param("metrics.x >", 11, "missing value after >", id="missing-value"),
    pytest.param("metrics.x > and", 12, "expected a number", id="keyword-as-value"),
    pytest.param("params.x = and", 11, "expected a quoted string", id="word-as-string"),
    pytest.param("metrics.x", 9, "expected a comparator", id="missing-comparator"),
    pytest.param("metrics.x ! 1", 10, "'!' must be followed by '='", id="bang"),
    pytest.param("metrics.x is 1", 13, "expected 'null' after 'is'", id="is-without-null"),
    pytest.param("params.x not like 'a'", 13, "expected 'in' after 'not'", id="not-like"),
    pytest.param("(metrics.x > 1", 0, "unbalanced parenthesis", id="unclosed-paren"),
    pytest.param("metrics.x > 1)", 13, "unbalanced parenthesis", id="extra-close-paren"),
    pytest.param("(metrics.x > 1 metrics.y > 1)", 15, "expected ')'", id="missing-and-in-parens"),
    pytest.param("()", 1, "expected a comparison inside", id="empty-parens"),
    pytest.param("metrics.x > 1 metrics.y > 1", 14, "expected 'and', 'or'", id="trailing-garbage"),
    pytest.param("metrics.x > 1 and", 17, "missing comparison", id="dangling-and"),
    pytest.param("or metrics.x > 1", 0, "expected an identifier", id="leading-or"),
    pytest.param("metrics.x > 1abc", 12, "expected a number", id="number-glued-to-word"),
    pytest.param("metrics.x > 1.2.3", 12, "expected a number", id="two-dots"),
    pytest.param("tags.a = 'x' # b", 13, "unexpected character '#'", id="unexpected-char"),
    pytest.param("params.x IN 'a'", 12, "expected '('", id="in-without-list"),
    pytest.param("params.x IN ()", 13, "expected a quoted string", id="in-empty-list"),
    pytest.param("params.x IN ('a', 1)", 18, "IN lists hold strings", id="in-number"),
    pytest.param("params.x IN ('a'", 12, "unbalanced parenthesis", id="in-unclosed"),
    pytest.param("params.x IN ('a' 'b')", 17, "expected ',' or ')'", id="in-missing-comma"),
]


@pytest.mark.parametrize(("text", "position", "words"), ERRORS)
def test_syntax_error_names_the_problem_and_its_position(text: str, position: int, words: str) -> None:
    with pytest.raises(FilterSyntaxError) as caught:
        parse(text)
    assert caught.value.position == position
    assert words in caught.value.message
    assert caught.value.text == text


def test_syntax_error_is_a_validation_error_with_a_pointer() -> None:
    with pytest.raises(ValidationError) as caught:
        parse("metrics.x > 1 junk")
    assert caught.value.message.endswith("  metrics.x > 1 junk\n                ^")


def test_param_number_error_suggests_quoted_form() -> None:
    with pytest.raises(FilterSyntaxError, match=r"params\.`a b` = '0\.1'"):
        parse("params.`a b` = 0.1")


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        pytest.param(["metrics.auc DESC"], [OrderKey(M, "auc", True)], id="metric-desc"),
        pytest.param(["params.lr"], [OrderKey(P, "lr", False)], id="default-asc"),
        pytest.param(["attributes.start_time ASC"], [OrderKey(A, "start_time", False)], id="attr-asc"),
        pytest.param(["tag.team desc"], [OrderKey(T, "team", True)], id="lower-desc"),
        pytest.param(["metrics.`val loss` DESC"], [OrderKey(M, "val loss", True)], id="quoted-key"),
        pytest.param(["start_time"], [OrderKey(A, "start_time", False)], id="bare-attribute"),
        pytest.param(["attributes.name"], [OrderKey(A, "run_name", False)], id="name-alias"),
        pytest.param(
            ["metrics.a", "params.b DESC"], [OrderKey(M, "a", False), OrderKey(P, "b", True)], id="several"
        ),
        pytest.param([], [], id="empty"),
    ],
)
def test_order_by_parses(items: list[str], expected: list[OrderKey]) -> None:
    assert parse_order_by(items) == expected


@pytest.mark.parametrize(
    ("item", "position", "words"),
    [
        pytest.param("metrics.auc DOWN", 12, "expected ASC, DESC", id="bad-direction"),
        pytest.param("metrics.auc DESC x", 17, "expected ASC, DESC", id="trailing"),
        pytest.param("metricz.auc", 0, "unknown prefix", id="unknown-prefix"),
        pytest.param("attributes.foo", 11, "unknown attribute", id="unknown-attribute"),
        pytest.param("", 0, "expected an identifier", id="empty"),
        pytest.param("DESC", 0, "expected an identifier", id="direction-only"),
        pytest.param("metrics.'auc", 8, "unterminated", id="unterminated"),
    ],
)
def test_order_by_error_names_position(item: str, position: int, words: str) -> None:
    with pytest.raises(FilterSyntaxError) as caught:
        parse_order_by([item])
    assert caught.value.position == position
    assert words in caught.value.message
