"""The JSONPath subset SageMaker batch transform accepts in ``InputFilter`` and ``OutputFilter``.

Supported, as in SageMaker's table of operators:

========================  =====================================================  =======================
form                      selects                                                example
========================  =====================================================  =======================
``$``                     the whole record                                       ``$``
``.name``                 a child by name                                        ``$.features``
``['name']``              a child by name (any characters)                       ``$['my field']``
``['a','b']``             several children: an object with those keys            ``$['id','SageMakerOutput']``
``[n]``                   an element; negative counts from the end               ``$[0]``, ``$[-1]``
``[n,m,...]``             several elements: an array                             ``$[1,3,5]``
``[start:end]``           a slice, *end included*; either side may be omitted     ``$[1:]``, ``$[:5]``, ``$[2:5]``
``[n,start:end]``         indexes and one slice together                         ``$[0,5:]``
``*`` / ``[*]``           every value of an object or array: an array            ``$.id.*``
========================  =====================================================  =======================

Slices include their end, as SageMaker documents them ("``$[1:4]`` specifies the second through fifth
columns"); that is not Python's slicing. A step that selects several values (several names, several indexes,
a slice, a wildcard) must be the last one; names may follow a dot before brackets (``$.a.['b','c']``). An index
or name that the record does not have is an error, as in SageMaker ("If you specify indexes that aren't within
the dimension size of the joined dataset, you get an error").

>>> compile_path("$[1:]").apply(["id-7", "5.1", "3.5"])
['5.1', '3.5']
>>> compile_path("$['id','SageMakerOutput']").apply({"id": 1, "x": 2, "SageMakerOutput": 0})
{'id': 1, 'SageMakerOutput': 0}
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_INT = re.compile(r"-?[0-9]+")


class JsonPathError(ValueError):
    """A JSONPath outside the supported subset, or one the record does not fit."""


@dataclass(frozen=True)
class Slice:
    """``[start:end]`` with the end included; None is the first (start) or last (end) element."""

    start: int | None
    end: int | None


@dataclass(frozen=True)
class Step:
    """One step: ``names`` or ``indexes`` (ints and at most one Slice) or ``wildcard``."""

    names: tuple[str, ...] = ()
    indexes: tuple[int | Slice, ...] = ()
    wildcard: bool = False

    @property
    def single(self) -> bool:
        """Selects one value (a name or an index), not an array or object of several."""
        if self.wildcard:
            return False
        if self.names:
            return len(self.names) == 1
        return len(self.indexes) == 1 and isinstance(self.indexes[0], int)


@dataclass(frozen=True)
class JsonPath:
    """A compiled path: :meth:`apply` it to a parsed JSON value (or a CSV row as a list of strings)."""

    text: str
    steps: tuple[Step, ...]

    @property
    def is_root(self) -> bool:
        """``$``: selects the record unchanged."""
        return not self.steps

    @property
    def by_index_only(self) -> bool:
        """Selects by position only (what applies to a CSV row, which is an array)."""
        return all(not s.names for s in self.steps)

    def apply(self, value: Any) -> Any:
        """The part of ``value`` this path selects; JsonPathError when ``value`` does not have it."""
        current = value
        for step in self.steps:
            current = _select(current, step, self.text)
        return current


def compile_path(text: str) -> JsonPath:
    """Parse ``text`` into a :class:`JsonPath`; JsonPathError says what is not supported and where."""
    if not isinstance(text, str):
        raise JsonPathError(f"a JSONPath is a string such as '$[1:]', got {text!r}")
    source = text.strip()
    if not source.startswith("$"):
        raise JsonPathError(f"JSONPath {text!r} must start with '$' (the record), e.g. '$' or '$[1:]'")
    steps: list[Step] = []
    pos = 1
    while pos < len(source):
        if steps and not steps[-1].single:
            raise JsonPathError(
                f"JSONPath {text!r}: a step that selects several values (names, indexes, a slice or '*') "
                "must be the last one"
            )
        char = source[pos]
        if char == ".":
            if source.startswith("..", pos):
                raise JsonPathError(f"JSONPath {text!r}: deep scan '..' is not supported")
            pos += 1
            if pos < len(source) and source[pos] == "[":
                continue  # $.a.['b','c'], as SageMaker's examples write it
            if pos < len(source) and source[pos] == "*":
                steps.append(Step(wildcard=True))
                pos += 1
                continue
            match = _NAME.match(source, pos)
            if match is None:
                raise JsonPathError(
                    f"JSONPath {text!r}: expected a name after '.' at position {pos}; "
                    "quote other names as ['name']"
                )
            steps.append(Step(names=(match.group(),)))
            pos = match.end()
        elif char == "[":
            end = _closing(source, pos, text)
            steps.append(_bracket(source[pos + 1 : end].strip(), text))
            pos = end + 1
        else:
            raise JsonPathError(f"JSONPath {text!r}: unexpected {char!r} at position {pos}")
    return JsonPath(text=text, steps=tuple(steps))


# -- parsing ------------------------------------------------------------------------------------------------


def _closing(source: str, start: int, text: str) -> int:
    quote: str | None = None
    pos = start + 1
    while pos < len(source):
        char = source[pos]
        if quote:
            if char == "\\":
                pos += 2
                continue
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "]":
            return pos
        pos += 1
    raise JsonPathError(f"JSONPath {text!r}: '[' at position {start} is never closed")


def _bracket(inner: str, text: str) -> Step:
    if not inner:
        raise JsonPathError(f"JSONPath {text!r}: empty brackets '[]'")
    if inner == "*":
        return Step(wildcard=True)
    if inner[0] in "'\"":
        return Step(names=tuple(_quoted_names(inner, text)))
    if inner.startswith(("?", "(")):
        raise JsonPathError(
            f"JSONPath {text!r}: filter and script expressions ('[?(...)]') are not supported"
        )
    items: list[int | Slice] = []
    for part in (p.strip() for p in inner.split(",")):
        if ":" in part:
            bounds = [b.strip() for b in part.split(":")]
            if len(bounds) != 2 or any(b and not _INT.fullmatch(b) for b in bounds):
                raise JsonPathError(
                    f"JSONPath {text!r}: {part!r} is not a slice; write [start:end] with whole numbers "
                    "(steps are not supported)"
                )
            items.append(Slice(int(bounds[0]) if bounds[0] else None, int(bounds[1]) if bounds[1] else None))
        elif _INT.fullmatch(part):
            items.append(int(part))
        else:
            raise JsonPathError(
                f"JSONPath {text!r}: {part!r} is not an index; use whole numbers, a slice such as 1:, or "
                "quoted names such as ['id']"
            )
    if sum(isinstance(i, Slice) for i in items) > 1:
        raise JsonPathError(
            f"Invalid JsonPath: {text}: only single range filters of format (eg: [1:5]) are supported; "
            "combine indexes with at most one range, e.g. $[0,5:]"
        )
    return Step(indexes=tuple(items))


def _quoted_names(inner: str, text: str) -> list[str]:
    names: list[str] = []
    pos = 0
    while pos < len(inner):
        quote = inner[pos]
        if quote not in "'\"":
            raise JsonPathError(f"JSONPath {text!r}: names in brackets are quoted, e.g. ['a','b']")
        pos += 1
        name: list[str] = []
        while pos < len(inner) and inner[pos] != quote:
            if inner[pos] == "\\" and pos + 1 < len(inner):
                pos += 1
            name.append(inner[pos])
            pos += 1
        if pos >= len(inner):
            raise JsonPathError(f"JSONPath {text!r}: a quoted name is never closed")
        names.append("".join(name))
        pos += 1
        while pos < len(inner) and inner[pos] == " ":
            pos += 1
        if pos < len(inner):
            if inner[pos] != ",":
                raise JsonPathError(f"JSONPath {text!r}: expected ',' between quoted names")
            pos += 1
            while pos < len(inner) and inner[pos] == " ":
                pos += 1
            if pos >= len(inner):
                raise JsonPathError(f"JSONPath {text!r}: a name is missing after ','")
    if len(names) > 1 and any("." in n for n in names):
        raise JsonPathError(
            f"JSONPath {text!r}: nested names inside brackets are not supported, as in SageMaker; "
            "select children of one object only"
        )
    return names


# -- applying -----------------------------------------------------------------------------------------------


def _select(value: Any, step: Step, where: str) -> Any:
    if step.wildcard:
        if isinstance(value, dict):
            return list(value.values())
        if isinstance(value, list):
            return list(value)
        raise JsonPathError(f"{where}: '*' needs an object or an array, got {_kind(value)}")
    if step.names:
        if not isinstance(value, dict):
            raise JsonPathError(f"{where}: selects by name, but the value is {_kind(value)}, not an object")
        missing = [n for n in step.names if n not in value]
        if missing:
            raise JsonPathError(f"{where}: the record has no {', '.join(repr(m) for m in missing)}")
        if len(step.names) == 1:
            return value[step.names[0]]
        return {n: value[n] for n in step.names}
    if not isinstance(value, list):
        raise JsonPathError(f"{where}: selects by index, but the value is {_kind(value)}, not an array")
    size = len(value)
    if step.single:
        index = step.indexes[0]
        assert isinstance(index, int)
        return value[_position(index, size, where)]
    out: list[Any] = []
    for item in step.indexes:
        if isinstance(item, int):
            out.append(value[_position(item, size, where)])
            continue
        start = 0 if item.start is None else _position(item.start, size, where)
        end = size - 1 if item.end is None else _position(item.end, size, where)
        out.extend(value[start : end + 1])
    return out


def _position(index: int, size: int, where: str) -> int:
    position = index + size if index < 0 else index
    if not 0 <= position < size:
        raise JsonPathError(f"{where}: index {index} is outside the record's {size} element(s)")
    return position


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return f"a {type(value).__name__}"
