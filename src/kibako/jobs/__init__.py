"""Training and processing jobs: the SageMaker script contract (``/opt/ml``, ``SM_*``) run locally."""
