"""The public SDK is small, sorted and light to import."""

from __future__ import annotations

import subprocess
import sys

import kibako


def test_all_is_sorted_and_complete() -> None:
    assert kibako.__all__ == sorted(kibako.__all__)
    for name in kibako.__all__:
        assert hasattr(kibako, name)


def test_import_kibako_loads_no_heavy_dependency() -> None:
    probe = (
        "import sys, kibako; print(sorted(m for m in ('sqlalchemy', 'fastapi', 'uvicorn', 'starlette', 'pandas', "
        "'numpy', 'torch', 'ray', 'rich', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
