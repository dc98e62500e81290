"""kibako: the whole SageMaker-style ML lifecycle in one box."""

__version__ = "0.1.0"
