"""Endpoints, variants, data capture and batch transform."""
