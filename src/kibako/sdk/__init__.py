"""The Python SDK face: ``kibako.connect()`` and what it hands out."""
