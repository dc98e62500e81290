"""What one endpoint's runtime serves: its variants, shadow variants and data capture, as plain dataclasses.

The endpoint service writes a :class:`RuntimeConfig` as JSON (``to_json``) into a file for
``python -m kibako.serving.runtime --config FILE`` and posts new ones to ``POST /_kibako/config``; the runtime
reads them back with ``from_json``. Field names are the dataclass names (snake_case); ``from_json`` checks
everything it reads, so a bad config is refused with a message that names the field before any model loads.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from kibako.errors import ValidationError

# Shadow and production variant names share one namespace: captures and stats are filed under the name.
_NAME_LIMIT = 63


@dataclass(frozen=True)
class VariantConfig:
    """One model behind the endpoint: where its file is, how to load it and its share of the traffic."""

    name: str
    model_name: str
    model_dir: str
    flavor: str | None = None
    model_class: str | None = None
    weight: float = 1.0

    @property
    def model_key(self) -> tuple[str, str, str | None, str | None]:
        """What identifies the loaded model: two variants (or two configs) with the same key share it."""
        return (self.model_name, self.model_dir, self.flavor, self.model_class)

    @classmethod
    def from_json(cls, data: Any, where: str = "variant") -> VariantConfig:
        d = _mapping(data, where)
        weight = d.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            raise ValidationError(f"{where}.weight must be a number, got {weight!r}")
        if not math.isfinite(weight) or weight < 0:
            raise ValidationError(f"{where}.weight must be a finite number >= 0, got {weight!r}")
        return cls(
            name=_name(d.get("name"), f"{where}.name"),
            model_name=_text(d.get("model_name"), f"{where}.model_name"),
            model_dir=_text(d.get("model_dir"), f"{where}.model_dir"),
            flavor=_optional_text(d.get("flavor"), f"{where}.flavor"),
            model_class=_optional_text(d.get("model_class"), f"{where}.model_class"),
            weight=float(weight),
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CaptureConfig:
    """SageMaker's DataCaptureConfig: which requests to keep, which halves, and where the files go.

    ``destination`` is a local folder or an fsspec URL (``s3://bucket/prefix``); files land under
    ``{destination}/{endpoint_name}/{variant_name}/yyyy/mm/dd/hh/``. Content types listed in
    ``csv_content_types`` / ``json_content_types`` are kept as text; any other is base64 (SageMaker's default).
    """

    enabled: bool = True
    sampling_percentage: int = 100
    destination: str = ""
    capture_input: bool = True
    capture_output: bool = True
    csv_content_types: list[str] = field(default_factory=lambda: ["text/csv"])
    json_content_types: list[str] = field(default_factory=lambda: ["application/json"])

    @classmethod
    def from_json(cls, data: Any, where: str = "capture") -> CaptureConfig:
        d = _mapping(data, where)
        pct = d.get("sampling_percentage", 100)
        if isinstance(pct, bool) or not isinstance(pct, int) or not 0 <= pct <= 100:
            raise ValidationError(f"{where}.sampling_percentage must be an integer 0-100, got {pct!r}")
        enabled = _flag(d.get("enabled", True), f"{where}.enabled")
        destination = d.get("destination", "")
        if not isinstance(destination, str) or (enabled and not destination.strip()):
            raise ValidationError(
                f"{where}.destination must name a folder or URL when capture is enabled, got {destination!r}"
            )
        capture_input = _flag(d.get("capture_input", True), f"{where}.capture_input")
        capture_output = _flag(d.get("capture_output", True), f"{where}.capture_output")
        if enabled and not (capture_input or capture_output):
            raise ValidationError(f"{where}: capture_input or capture_output must be true (CaptureOptions)")
        return cls(
            enabled=enabled,
            sampling_percentage=pct,
            destination=destination,
            capture_input=capture_input,
            capture_output=capture_output,
            csv_content_types=_types(d.get("csv_content_types", ["text/csv"]), f"{where}.csv_content_types"),
            json_content_types=_types(
                d.get("json_content_types", ["application/json"]), f"{where}.json_content_types"
            ),
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RuntimeConfig:
    """Everything one runtime process serves; ``secret`` guards the ``/_kibako/*`` admin routes."""

    endpoint_name: str
    config_name: str
    variants: list[VariantConfig]
    shadow_variants: list[VariantConfig] = field(default_factory=list)
    capture: CaptureConfig | None = None
    secret: str = ""

    @classmethod
    def from_json(cls, data: Any) -> RuntimeConfig:
        """Check and read a config written by :meth:`to_json`; a ValidationError names the bad field."""
        d = _mapping(data, "config")
        raw_variants = d.get("variants")
        if not isinstance(raw_variants, list) or not raw_variants:
            raise ValidationError("config.variants must be a non-empty list of production variants")
        raw_shadows = d.get("shadow_variants") or []
        if not isinstance(raw_shadows, list):
            raise ValidationError("config.shadow_variants must be a list")
        variants = [VariantConfig.from_json(v, f"variants[{i}]") for i, v in enumerate(raw_variants)]
        shadows = [VariantConfig.from_json(v, f"shadow_variants[{i}]") for i, v in enumerate(raw_shadows)]
        names = [v.name for v in variants + shadows]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValidationError(f"variant names must be unique across variants and shadows: {duplicates}")
        raw_capture = d.get("capture")
        secret = d.get("secret", "")
        if not isinstance(secret, str):
            raise ValidationError("config.secret must be a string")
        return cls(
            endpoint_name=_name(d.get("endpoint_name"), "config.endpoint_name"),
            config_name=_text(d.get("config_name"), "config.config_name"),
            variants=variants,
            shadow_variants=shadows,
            capture=None if raw_capture is None else CaptureConfig.from_json(raw_capture),
            secret=secret,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "endpoint_name": self.endpoint_name,
            "config_name": self.config_name,
            "variants": [v.to_json() for v in self.variants],
            "shadow_variants": [v.to_json() for v in self.shadow_variants],
            "capture": None if self.capture is None else self.capture.to_json(),
            "secret": self.secret,
        }

    def variant(self, name: str) -> VariantConfig | None:
        """The production or shadow variant called ``name``."""
        return next((v for v in self.variants + self.shadow_variants if v.name == name), None)


def _mapping(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValidationError(f"{where} must be a JSON object, got {type(data).__name__}")
    return data


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{where} must be a non-empty string, got {value!r}")
    return value


def _optional_text(value: Any, where: str) -> str | None:
    return None if value is None else _text(value, where)


def _name(value: Any, where: str) -> str:
    """A name that is safe as one path segment of a capture folder (SageMaker's 63-character names)."""
    text = _text(value, where)
    if len(text) > _NAME_LIMIT or not all(c.isalnum() or c in "-_." for c in text) or text in {".", ".."}:
        raise ValidationError(
            f"{where} must be 1-{_NAME_LIMIT} letters, digits, '-', '_' or '.', got {value!r}"
        )
    return text


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(f"{where} must be true or false, got {value!r}")
    return value


def _types(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValidationError(f"{where} must be a list of content types, got {value!r}")
    return [v.strip().lower() for v in value]
