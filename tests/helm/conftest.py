from __future__ import annotations

from pathlib import Path

import pytest

from helm.charts import Helm


@pytest.fixture(scope="session")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    """helm, and a copy of src/helm with each chart's library dependency packed."""
    return Helm.prepare(Path(tmp_path_factory.mktemp("helm")))
