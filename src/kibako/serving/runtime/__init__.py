"""The inference runtime: one process that serves one endpoint's variants over SageMaker's HTTP contract.

Start it with ``python -m kibako.serving.runtime --config FILE --port N [--host 127.0.0.1]``, where FILE holds
``RuntimeConfig.to_json()``. The endpoint service starts one per endpoint and then talks to it over HTTP.

SageMaker's routes:

* ``GET /ping``: 200 (empty body) once every variant's model is loaded, 503 while loading. If the first
  load fails the process exits 1 with the reason on stderr.
* ``POST /invocations`` and ``POST /endpoints/{endpoint_name}/invocations``: a production variant chosen at
  random by weight, or the one named in ``X-Amzn-SageMaker-Target-Variant``; the answer names it in
  ``X-Amzn-Invoked-Production-Variant``. Errors are ``{"ErrorCode": ..., "Message": ...}``: 400
  ValidationError (bad payload, unknown target variant, inference id over 64 characters), 413
  PayloadTooLarge (over 6 MB), 415 UnsupportedMediaType, 500 ModelError (the model raised; counted per
  variant), 503 ServiceUnavailable (still loading, or every weight is 0 and no target was named).

Admin routes (header ``X-Kibako-Secret: <config.secret>``, else 403 AccessDenied; an empty secret disables
them):

* ``POST /_kibako/config`` with a RuntimeConfig JSON: loads the models the new config does not share with
  the current one (same ``model_name``, ``model_dir``, ``flavor`` and ``model_class`` = shared, so a
  weights-only change loads nothing) while the old config serves, then swaps in one step. 200
  ``{"EndpointName", "EndpointConfigName", "LoadedVariants": [...], "ReusedVariants": [...]}``; 400 for a
  config that does not validate or names another endpoint; 422 ``{"ErrorCode": "ModelLoadError", ...}``
  when a model fails to load (the old config keeps serving, untouched). Old models are closed once the
  requests that started on them have finished.
* ``GET /_kibako/config``: the config being served, with ``secret`` shown as ``"***"``.
* ``GET /_kibako/stats[?drain=1]``: ``{"EndpointName", "EndpointConfigName", "WindowStart", "WindowEnd",
  "Drained", "Variants": {name: {"Role": "Production"|"Shadow", "Invocations", "Invocation4XXErrors",
  "Invocation5XXErrors", "ModelLatency": {"count", "sum", "max", "p50", "p99"}, "OverheadLatency": {...},
  "ShadowDropped", "CapturedRecords"}}, "Unrouted": {"Invocation4XXErrors", "Invocation5XXErrors"}}``.
  Latencies are in microseconds, as CloudWatch's ModelLatency and OverheadLatency are. ``drain=1`` starts
  a new window in the same step.
* ``POST /_kibako/flush``: writes (and fsyncs, or uploads) every capture record so far;
  ``{"Flushed": true}``, or false when capture is off.

SIGTERM or SIGINT: stop accepting, finish in-flight requests and queued shadow copies, flush and close the
capture files, exit 0. Environment: ``KIBAKO_RUNTIME_THREADS`` (invoke threads), ``KIBAKO_RUNTIME_LOADER``
(``module:function`` in place of ``kibako.inference.load_model``), ``KIBAKO_RUNTIME_SEED`` (seeds the
routing RNG, for tests).

Modules: ``config`` (the dataclasses), ``app`` (the ASGI app), ``engine`` (loading, swaps, shadow copies,
invoke threads), ``routing`` (the immutable routing table), ``capture`` (data capture files) and ``stats``.
"""

from kibako.serving.runtime.config import CaptureConfig, RuntimeConfig, VariantConfig

__all__ = ["CaptureConfig", "RuntimeConfig", "VariantConfig"]
