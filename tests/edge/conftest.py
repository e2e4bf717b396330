"""The module-scoped `edge` fixture (see harness.py)."""

from edge.harness import edge

__all__ = ["edge"]
