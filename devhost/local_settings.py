"""Reads local.settings.json into the environment; real environment variables win, as app settings do in Azure."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def ensure_local_settings(root: Path = ROOT) -> Path:
    path = root / "local.settings.json"
    if not path.exists():
        shutil.copyfile(root / "local.settings.json.example", path)
    return path


def load_local_settings(root: Path = ROOT) -> dict[str, str]:
    path = ensure_local_settings(root)
    values = json.loads(path.read_text()).get("Values", {})
    applied = {}
    for key, value in values.items():
        if key not in os.environ:
            os.environ[key] = str(value)
            applied[key] = str(value)
    from shared.settings import reset_settings

    reset_settings()
    return applied
