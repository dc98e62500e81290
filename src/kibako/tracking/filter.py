"""The run search language: MLflow's filter strings plus ``or`` and parentheses, parsed into a small AST.

Grammar (keywords are case-insensitive; ``and`` binds tighter than ``or``)::

    filter     := or_expr?
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := primary ("and" primary)*
    primary    := "(" or_expr ")" | comparison
    comparison := identifier operator value
    identifier := prefix "." key | attribute name
    prefix     := metrics | params | tags | attributes   (or metric, param, tag, attribute)
    operator   := = | != | > | >= | < | <= | like | ilike | in | not in | is null | is not null

This module is pure: it knows nothing of SQL. ``kibako.tracking.search`` compiles the AST.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal, cast

from kibako.errors import FilterSyntaxError

Kind = Literal["metric", "param", "tag", "attribute"]
Value = str | int | float | tuple[str, ...] | None

_KINDS: tuple[Kind, ...] = ("metric", "param", "tag", "attribute")
PREFIXES: dict[str, Kind] = {p: kind for kind in _KINDS for p in (kind, kind + "s")}
NUMERIC_ATTRIBUTES = frozenset({"start_time", "end_time", "created"})
STRING_ATTRIBUTES = frozenset({"run_id", "run_name", "status", "experiment_id"})
ATTRIBUTE_ALIASES = {"name": "run_name"}
NULLABLE_ATTRIBUTES = frozenset({"start_time", "end_time"})

ORDERING_OPS = ("=", "!=", ">", ">=", "<", "<=")
STRING_OPS = ("=", "!=", "LIKE", "ILIKE", "IN", "NOT IN")
NULL_OPS = ("IS NULL", "IS NOT NULL")


@dataclass(frozen=True)
class Comparison:
    """One test, e.g. ``metrics.auc > 0.9`` is ``Comparison("metric", "auc", ">", 0.9)``."""

    kind: Kind
    key: str
    op: str
    value: Value
    position: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True)
class And:
    """True when every item is true."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    """True when any item is true."""

    items: tuple[Node, ...]


Node = Comparison | And | Or


@dataclass(frozen=True)
class OrderKey:
    """One ``order_by`` entry, e.g. ``metrics.auc DESC`` is ``OrderKey("metric", "auc", descending=True)``."""

    kind: Kind
    key: str
    descending: bool = False


def allowed_ops(kind: Kind, key: str) -> tuple[str, ...]:
    """The operators a comparison on this kind (and, for attributes, this name) may use."""
    if kind == "metric":
        return ORDERING_OPS + NULL_OPS
    if kind in ("param", "tag"):
        return STRING_OPS + NULL_OPS
    if key in NUMERIC_ATTRIBUTES:
        return ORDERING_OPS + (NULL_OPS if key in NULLABLE_ATTRIBUTES else ())
    return STRING_OPS


def is_numeric(kind: Kind, key: str) -> bool:
    """Whether values of this identifier are numbers (metrics, times) rather than strings."""
    return kind == "metric" or (kind == "attribute" and key in NUMERIC_ATTRIBUTES)


@dataclass(frozen=True)
class _Token:
    type: str  # WORD, IDENT, STRING, NUMBER, OP, LPAREN, RPAREN, COMMA, END
    text: str
    position: int
    value: object = None


_TOKEN = re.compile(
    r"(?P<SPACE>\s+)|(?P<LPAREN>\()|(?P<RPAREN>\))|(?P<COMMA>,)|(?P<OP>!=|>=|<=|=|>|<)"
    r"|(?P<NUMBER>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(?![\w.'\"`])"
    r"|(?P<WORD>[^\W\d][\w./:-]*)"
)
_WORD_CHARS = re.compile(r"[\w./:-]+")


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "'\"`":
            value, end = _read_quoted(text, i)
            ident = ch == "`"
            tokens.append(
                _Token("IDENT" if ident else "STRING", text[i:end], i, (None, value) if ident else value)
            )
            i = end
            continue
        match = _TOKEN.match(text, i)
        if match is None:
            if ch == "!":
                raise FilterSyntaxError("expected '!=': '!' must be followed by '='", text=text, position=i)
            if ch.isdigit() or ch in "+-.":
                raise FilterSyntaxError("expected a number", text=text, position=i)
            raise FilterSyntaxError(f"unexpected character {ch!r}", text=text, position=i)
        kind, raw, i = match.lastgroup or "", match.group(), match.end()
        if kind == "NUMBER":
            number = float(raw) if any(c in raw for c in ".eE") else int(raw)
            tokens.append(_Token(kind, raw, match.start(), number))
        elif kind == "WORD" and raw.endswith(".") and i < len(text) and text[i] in "\"'`":
            # ``metrics."val loss"`` and ``params.`a-b```: a prefix followed by a quoted key.
            key, i = _read_quoted(text, i)
            tokens.append(_Token("IDENT", text[match.start() : i], match.start(), (raw[:-1], key)))
        elif kind != "SPACE":
            tokens.append(_Token(kind, raw, match.start()))
    tokens.append(_Token("END", "", len(text)))
    return tokens


def _read_quoted(text: str, start: int) -> tuple[str, int]:
    """The content of the quoted string at ``start`` (``\\`` escapes the quote and itself) and its end."""
    quote, i = text[start], start + 1
    out: list[str] = []
    while i < len(text):
        if text[i] == quote:
            return "".join(out), i + 1
        escaped = text[i] == "\\" and text[i + 1 : i + 2] in (quote, "\\")
        out.append(text[i + 1] if escaped else text[i])
        i += 2 if escaped else 1
    what = "quoted name" if quote == "`" else "string"
    raise FilterSyntaxError(f"unterminated {what}: expected a closing {quote}", text=text, position=start)


_EXPECTED_IDENTIFIER = (
    "expected an identifier such as metrics.<key>, params.<key>, tags.<key> or attributes.<name>"
)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index = min(self.index + 1, len(self.tokens) - 1)
        return token

    def fail(self, message: str, token: _Token | None = None) -> FilterSyntaxError:
        return FilterSyntaxError(message, text=self.text, position=(token or self.current).position)

    def at_keyword(self, *words: str) -> bool:
        token = self.current
        return token.type == "WORD" and token.text.upper() in words

    def parse_or(self) -> Node:
        items = [self.parse_and()]
        while self.at_keyword("OR"):
            self.advance()
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def parse_and(self) -> Node:
        items = [self.parse_primary()]
        while self.at_keyword("AND"):
            self.advance()
            items.append(self.parse_primary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def parse_primary(self) -> Node:
        if self.current.type == "LPAREN":
            opening = self.advance()
            if self.current.type == "RPAREN":
                raise self.fail("expected a comparison inside the parentheses")
            node = self.parse_or()
            if self.current.type != "RPAREN":
                if self.current.type == "END":
                    raise self.fail("unbalanced parenthesis: expected ')' to close this '('", opening)
                raise self.fail("expected ')', 'and' or 'or'")
            self.advance()
            return node
        return self.parse_comparison()

    def parse_comparison(self) -> Comparison:
        start = self.current
        kind, key = self.parse_identifier()
        op = self.parse_operator(kind, key)
        if op in NULL_OPS:
            return Comparison(kind, key, op, None, start.position)
        value = self.parse_value(kind, key, op)
        return Comparison(kind, key, op, value, start.position)

    def parse_identifier(self) -> tuple[Kind, str]:
        token = self.current
        if token.type == "END":
            raise self.fail(f"missing comparison: {_EXPECTED_IDENTIFIER}")
        if token.type not in ("WORD", "IDENT"):
            raise self.fail(_EXPECTED_IDENTIFIER)
        self.advance()
        return resolve_identifier(self.text, token)

    def parse_operator(self, kind: Kind, key: str) -> str:
        token = self.current
        allowed = allowed_ops(kind, key)
        if token.type == "OP":
            op = token.text
            self.advance()
        elif self.at_keyword("LIKE", "ILIKE", "IN"):
            op = self.advance().text.upper()
        elif self.at_keyword("NOT"):
            self.advance()
            if not self.at_keyword("IN"):
                raise self.fail("expected 'in' after 'not'")
            self.advance()
            op = "NOT IN"
        elif self.at_keyword("IS"):
            self.advance()
            negated = self.at_keyword("NOT")
            if negated:
                self.advance()
            if not self.at_keyword("NULL"):
                raise self.fail("expected 'null' after 'is'" + (" not" if negated else ""))
            self.advance()
            op = "IS NOT NULL" if negated else "IS NULL"
        else:
            raise self.fail(f"expected a comparator ({', '.join(allowed)}) after {_describe(kind, key)}")
        if op not in allowed:
            where = _describe(kind, key)
            raise self.fail(f"{op} is not allowed on {where}; use one of {', '.join(allowed)}", token)
        return op

    def parse_value(self, kind: Kind, key: str, op: str) -> Value:
        if op in ("IN", "NOT IN"):
            return self.parse_list()
        token = self.current
        if token.type == "END":
            raise self.fail(f"missing value after {op}")
        if is_numeric(kind, key):
            if token.type == "STRING":
                what = "metrics are numbers" if kind == "metric" else f"{_describe(kind, key)} is a number"
                raise self.fail(f"{what}: expected a number, not a quoted string")
            if token.type != "NUMBER":
                raise self.fail(f"expected a number after {op}")
            number = cast(float, self.advance().value)
            if kind == "metric":
                return number
            if not float(number).is_integer():
                raise self.fail(f"{_describe(kind, key)} is whole milliseconds: expected an integer", token)
            return int(number)
        if token.type == "NUMBER":
            what = {"param": "params are", "tag": "tags are"}.get(kind, f"{_describe(kind, key)} is a")
            example = f"{_identifier_text(kind, key)} {op} '{token.text}'"
            raise self.fail(f"{what} string{'s' * (kind != 'attribute')}: quote the value, e.g. {example}")
        if token.type != "STRING":
            raise self.fail(f"expected a quoted string after {op}")
        return cast(str, self.advance().value)

    def parse_list(self) -> tuple[str, ...]:
        if self.current.type != "LPAREN":
            raise self.fail("expected '(' and a list of quoted strings after IN")
        opening = self.advance()
        values: list[str] = []
        while True:
            token = self.current
            if token.type == "NUMBER":
                raise self.fail(f"IN lists hold strings: quote the value, e.g. '{token.text}'")
            if token.type == "END":
                raise self.fail("unbalanced parenthesis: expected quoted strings and ')' after '('", opening)
            if token.type != "STRING":
                raise self.fail("expected a quoted string in the IN list")
            values.append(str(self.advance().value))
            separator = self.advance()
            if separator.type == "RPAREN":
                return tuple(values)
            if separator.type == "END":
                raise self.fail("unbalanced parenthesis: expected ')' to close the IN list", opening)
            if separator.type != "COMMA":
                raise self.fail("expected ',' or ')' in the IN list", separator)


def resolve_identifier(text: str, token: _Token) -> tuple[Kind, str]:
    """The (kind, key) an identifier token names; raises FilterSyntaxError for unknown prefixes or names."""
    if token.type == "IDENT":
        prefix, key = cast(tuple[str | None, str], token.value)
        if prefix is None:
            raise FilterSyntaxError(
                "a quoted name needs a prefix, e.g. metrics.`val loss` or params.`a-b`",
                text=text,
                position=token.position,
            )
    else:
        prefix, dot, key = token.text.partition(".")
        if not dot:
            name = ATTRIBUTE_ALIASES.get(token.text, token.text)
            if name in NUMERIC_ATTRIBUTES or name in STRING_ATTRIBUTES:
                return "attribute", name
            raise FilterSyntaxError(_EXPECTED_IDENTIFIER, text=text, position=token.position)
    kind = PREFIXES.get(prefix.lower())
    if kind is None:
        raise FilterSyntaxError(
            f"unknown prefix {prefix!r}: expected metrics., params., tags. or attributes.",
            text=text,
            position=token.position,
        )
    if not key:
        raise FilterSyntaxError(
            f"expected a name after '{prefix}.'", text=text, position=token.position + len(prefix) + 1
        )
    if kind == "attribute":
        name = ATTRIBUTE_ALIASES.get(key, key)
        if name not in NUMERIC_ATTRIBUTES and name not in STRING_ATTRIBUTES:
            known = ", ".join(sorted(NUMERIC_ATTRIBUTES | STRING_ATTRIBUTES | set(ATTRIBUTE_ALIASES)))
            raise FilterSyntaxError(
                f"unknown attribute {key!r}: expected one of {known}",
                text=text,
                position=token.position + len(prefix) + 1,
            )
        return kind, name
    return kind, key


def _describe(kind: Kind, key: str) -> str:
    return {"metric": "metrics", "param": "params", "tag": "tags"}.get(kind, f"attributes.{key}")


def _identifier_text(kind: Kind, key: str) -> str:
    if kind == "attribute":
        return f"attributes.{key}"
    shown = key if _WORD_CHARS.fullmatch(key) else "`" + key.replace("`", "\\`") + "`"
    return f"{_describe(kind, key)}.{shown}"


def parse(text: str) -> Node | None:
    """Parse a filter string into its AST; None for an empty filter (which matches every run).

    Example: ``parse("metrics.auc > 0.9 and params.model = 'xgb'")``.
    """
    if not text or not text.strip():
        return None
    parser = _Parser(text)
    node = parser.parse_or()
    token = parser.current
    if token.type == "RPAREN":
        raise parser.fail("unbalanced parenthesis: this ')' has no matching '('")
    if token.type != "END":
        raise parser.fail(f"expected 'and', 'or' or the end of the filter, found {token.text!r}")
    return node


def parse_order_by(items: list[str] | None) -> list[OrderKey]:
    """Parse ``order_by`` entries such as ``"metrics.auc DESC"`` or ``"params.lr"`` (ascending by default)."""
    keys: list[OrderKey] = []
    for item in items or []:
        tokens = _tokenize(item)
        first = tokens[0]
        if first.type not in ("WORD", "IDENT"):
            raise FilterSyntaxError(f"{_EXPECTED_IDENTIFIER} in order_by", text=item, position=first.position)
        kind, key = resolve_identifier(item, first)
        descending = False
        rest = tokens[1]
        if rest.type == "WORD" and rest.text.upper() in ("ASC", "DESC"):
            descending = rest.text.upper() == "DESC"
            rest = tokens[2]
        if rest.type != "END":
            raise FilterSyntaxError(
                "expected ASC, DESC or the end of the order_by entry", text=item, position=rest.position
            )
        keys.append(OrderKey(kind, key, descending))
    return keys
