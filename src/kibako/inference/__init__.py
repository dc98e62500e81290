"""Model inference: load a model of any supported flavor, turn request bodies into predictions and back.

>>> from kibako.inference import load_model
>>> handler = load_model("model.joblib")                                  # doctest: +SKIP
>>> handler.invoke(b"5.1,3.5,1.4,0.2\\n", "text/csv", "application/json")  # doctest: +SKIP
(b'{"predictions":[0]}', 'application/json')

Flavors: sklearn, xgboost, lightgbm, pytorch, onnx, mlflow (a folder with MLmodel) and sagemaker (a folder or
model.tar.gz with code/inference.py); see docs/model-flavors.md. Importing this package loads no ML library:
each flavor imports its own when a model of it is loaded.
"""

from kibako.inference.handler import Handler
from kibako.inference.loader import FLAVORS, detect_flavor, load_model

__all__ = ["FLAVORS", "Handler", "detect_flavor", "load_model"]
