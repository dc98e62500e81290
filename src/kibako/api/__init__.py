"""The HTTP API (FastAPI): every exposed service method, the artifact store, and bearer-token auth."""
