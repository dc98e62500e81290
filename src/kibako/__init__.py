"""kibako: the whole SageMaker-style ML lifecycle in one box, on your machine and then on your cluster.

>>> import kibako
>>> kb = kibako.connect()
>>> with kb.run("churn", name="baseline") as run:
...     run.log_params({"lr": 0.1})
...     run.log_metric("auc", 0.91, step=3)

Importing this package stays light: databases, web frameworks and ML libraries load only when used.
"""

from kibako.core.version import __version__
from kibako.errors import (
    ConflictError,
    FilterSyntaxError,
    KibakoError,
    NotFoundError,
    RunFinishedError,
    ValidationError,
)
from kibako.sdk.client import Kibako, connect
from kibako.sdk.run import ActiveRun

__all__ = [
    "ActiveRun",
    "ConflictError",
    "FilterSyntaxError",
    "Kibako",
    "KibakoError",
    "NotFoundError",
    "RunFinishedError",
    "ValidationError",
    "__version__",
    "connect",
]
