"""Hyperparameter tuning: SageMaker ParameterRanges as a search space, and the strategies that search it."""
