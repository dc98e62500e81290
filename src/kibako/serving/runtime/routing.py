"""The routing table: which loaded model answers for which variant, and how traffic is split by weight.

A :class:`RoutingTable` never changes once built. A new config builds a new table (loading only the models
it does not already have) and the runtime swaps one reference, which is atomic: a request picks the table
once and uses it to the end, so in-flight requests finish on the handlers they started with. Each table
counts the requests (and queued shadow copies) still using it; once a retired table's count is zero, the
models and capture writer the new table does not share are closed.
"""

from __future__ import annotations

import bisect
import importlib
import os
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, Protocol

from kibako.serving.runtime.capture import CaptureWriter
from kibako.serving.runtime.config import RuntimeConfig, VariantConfig
from kibako.serving.runtime.stats import StatsBook, VariantStats

LOADER_ENV = "KIBAKO_RUNTIME_LOADER"
SEED_ENV = "KIBAKO_RUNTIME_SEED"


class Handler(Protocol):
    """What ``kibako.inference.load_model`` returns (structural, so test doubles need no import)."""

    def invoke(self, body: bytes, content_type: str, accept: str | None) -> tuple[bytes, str]: ...

    def close(self) -> None: ...


Loader = Callable[..., Handler]
ModelKey = tuple[str, str, str | None, str | None]


def default_loader() -> Loader:
    """``kibako.inference.load_model``, or the ``module:function`` named by ``KIBAKO_RUNTIME_LOADER``.

    The variable is a plug-in point (custom runtimes, and tests that need a model that fails or stalls);
    the function takes ``(model_dir, flavor=..., model_class=...)`` like ``load_model``.
    """
    spec = os.environ.get(LOADER_ENV)
    if spec:
        module, _, name = spec.partition(":")
        loader: Loader = getattr(importlib.import_module(module), name or "load_model")
        return loader
    from kibako.inference import load_model

    return load_model


def new_rng() -> random.Random:
    """The routing RNG: seeded from ``KIBAKO_RUNTIME_SEED`` when set, so tests can count exact splits."""
    seed = os.environ.get(SEED_ENV)
    return random.Random(int(seed)) if seed else random.Random()


# A model whose last INLINE_AFTER calls each took at most INLINE_MAX_NS runs on the event loop itself for
# bodies up to INLINE_MAX_BODY bytes; one slower call sends it back to the invoke threads (see app.py).
INLINE_MAX_NS = 2_000_000
INLINE_AFTER = 20
INLINE_MAX_BODY = 64 * 1024


class LoadedModel:
    """One loaded handler, shared by every variant (in any table) whose :attr:`VariantConfig.model_key` matches.

    ``inline`` says whether the model has proved fast enough to be called on the event loop; it is read and
    updated by the event loop thread only, so it needs no lock.
    """

    def __init__(self, key: ModelKey, handler: Handler) -> None:
        self.key = key
        self.handler = handler
        self.inline = False
        self._fast = 0

    def observe(self, model_ns: int) -> None:
        """Record one call's duration: INLINE_AFTER fast calls in a row allow inline calls, a slow one ends them."""
        if model_ns > INLINE_MAX_NS:
            self.inline = False
            self._fast = 0
        elif not self.inline:
            self._fast += 1
            self.inline = self._fast >= INLINE_AFTER


@dataclass(frozen=True)
class Route:
    """One variant as the request path sees it."""

    name: str
    config: VariantConfig
    model: LoadedModel
    stats: VariantStats
    shadow: bool


class RoutingTable:
    """One config's routes, weights and capture writer; immutable, counted while in use."""

    def __init__(
        self,
        config: RuntimeConfig,
        production: list[Route],
        shadows: list[Route],
        capture: CaptureWriter | None,
        rng: random.Random,
    ) -> None:
        self.config = config
        self.production = {route.name: route for route in production}
        self.shadows = shadows
        self.capture = capture
        self._rng = rng
        weighted = [route for route in production if route.config.weight > 0]
        self._weighted = weighted
        self._cumulative = list(accumulate(route.config.weight for route in weighted))
        self._total = self._cumulative[-1] if weighted else 0.0
        self._users = 0
        self._lock = threading.Lock()

    @property
    def variant_names(self) -> list[str]:
        return list(self.production)

    def pick(self) -> Route | None:
        """A production variant at random in proportion to its weight; None when every weight is 0."""
        if len(self._weighted) == 1:
            return self._weighted[0]
        if not self._weighted:
            return None
        point = self._rng.random() * self._total
        index = bisect.bisect_right(self._cumulative, point)
        return self._weighted[min(index, len(self._weighted) - 1)]

    def acquire(self) -> None:
        with self._lock:
            self._users += 1

    def release(self) -> None:
        with self._lock:
            self._users -= 1

    @property
    def idle(self) -> bool:
        return self._users == 0

    def models(self) -> dict[ModelKey, LoadedModel]:
        routes = list(self.production.values()) + self.shadows
        return {route.model.key: route.model for route in routes}


def build_table(
    config: RuntimeConfig,
    current: RoutingTable | None,
    loader: Loader,
    stats: StatsBook,
    rng: random.Random,
    make_capture: Callable[[RuntimeConfig], CaptureWriter | None],
) -> tuple[RoutingTable, list[str]]:
    """A table for ``config`` that reuses ``current``'s models where the model key is the same.

    Blocking (it loads models): call it off the event loop. Returns the table and the names of the variants
    whose model was loaded now. If any load fails, the models loaded by this call are closed and the error
    propagates; ``current`` is untouched.
    """
    have = current.models() if current is not None else {}
    fresh: dict[ModelKey, LoadedModel] = {}
    loaded: list[str] = []
    try:
        for variant in config.variants + config.shadow_variants:
            key = variant.model_key
            if key in have or key in fresh:
                continue
            handler = loader(variant.model_dir, flavor=variant.flavor, model_class=variant.model_class)
            fresh[key] = LoadedModel(key, handler)
            loaded.append(variant.name)
    except BaseException:
        for model in fresh.values():
            _close_quietly(model.handler)
        raise
    models = {**have, **fresh}

    def route(variant: VariantConfig, shadow: bool) -> Route:
        role = "Shadow" if shadow else "Production"
        return Route(
            variant.name, variant, models[variant.model_key], stats.variant(variant.name, role), shadow
        )

    capture = (
        current.capture
        if current is not None and _same_capture(current.config, config)
        else make_capture(config)
    )
    table = RoutingTable(
        config,
        [route(v, False) for v in config.variants],
        [route(v, True) for v in config.shadow_variants],
        capture,
        rng,
    )
    return table, loaded


def retire(old: RoutingTable, live: list[RoutingTable]) -> None:
    """Close what ``old`` holds that no table in ``live`` shares (call once ``old.idle``; blocking)."""
    keep = {key for table in live for key in table.models()}
    for key, model in old.models().items():
        if key not in keep:
            _close_quietly(model.handler)
    if old.capture is not None and all(table.capture is not old.capture for table in live):
        old.capture.close()


def _same_capture(a: RuntimeConfig, b: RuntimeConfig) -> bool:
    return a.endpoint_name == b.endpoint_name and a.capture == b.capture


def _close_quietly(handler: Any) -> None:
    try:
        handler.close()
    except Exception:  # a handler that fails to close must not stop the others from closing
        import logging

        logging.getLogger("kibako.serving.runtime").exception("closing a model handler failed")
