"""Reads local.settings.json into the environment; real environment variables win, as they do in Core Tools.

Precedence everywhere on the local stack: the real environment, then the stack's own endpoints (devhost/stack.py,
which knows its ports), then local.settings.json, then the defaults in shared/settings.py.
"""

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
    # A setting added to the example after this local.settings.json was made (a pull brought it) still applies;
    # otherwise a %SETTING% trigger binding of a new function would not resolve.
    example = json.loads((root / "local.settings.json.example").read_text()).get("Values", {})
    values = {**example, **json.loads(path.read_text()).get("Values", {})}
    applied = {}
    for key, value in values.items():
        if key not in os.environ:
            os.environ[key] = str(value)
            applied[key] = str(value)
    from shared.settings import reset_settings

    reset_settings()
    return applied


def app_setting_names(root: Path = ROOT) -> set[str]:
    """Every setting the app reads (shared/settings.py) or local.settings.json.example sets."""
    from shared.settings import Settings

    names = {f.alias or name for name, f in Settings.model_fields.items()}
    return names | set(json.loads((root / "local.settings.json.example").read_text()).get("Values", {}))
