#!/usr/bin/env python3
"""Resolves a git merge's conflicts in the gettext catalogs: every translation of both sides is kept.

    .venv/bin/python scripts/merge_catalogs.py     # during a conflicted `git merge`, from the repository's root

Two branches that each add strings conflict in every .po/.pot/.mo file although no translation contradicts
another. For each conflicted `.po` this takes both sides' messages (ours first; theirs adds what ours lacks or left
untranslated) and writes it; it takes our side of the `.pot`/`.mo` files and runs `scripts/extract_messages.py`, so
the templates are extracted again from the merged sources and every `.mo` is compiled; the catalogs are then staged.
A message both sides translated differently keeps ours and is printed, so a person can choose.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout


def _side(stage: int, path: str) -> Catalog | None:
    try:
        text = subprocess.run(["git", "show", f":{stage}:{path}"], cwd=ROOT, check=True, capture_output=True).stdout
    except subprocess.CalledProcessError:
        return None
    return read_po(io.BytesIO(text))


def _translated(message) -> bool:
    strings = message.string if isinstance(message.string, tuple | list) else (message.string,)
    return all(strings) and "fuzzy" not in message.flags


def merge(path: str) -> list[str]:
    ours, theirs = _side(2, path), _side(3, path)
    if ours is None and theirs is None:
        return []  # neither side has the catalog (deleted on both): nothing to write
    if ours is None or theirs is None:
        keep = ours or theirs
        assert keep is not None
        disagreements: list[str] = []
    else:
        keep, disagreements = ours, []
        for message in theirs:
            if not message.id:
                continue
            mine = keep.get(message.id, message.context)
            if mine is None or not _translated(mine):
                if mine is not None:
                    keep.delete(message.id, message.context)
                keep[message.id] = message
            elif _translated(message) and mine.string != message.string:
                disagreements.append(f"{path}: {message.id!r}")
    out = io.BytesIO()
    write_po(out, keep, width=120)
    (ROOT / path).write_bytes(out.getvalue())
    return disagreements


def main() -> int:
    conflicted = [p for p in _git("diff", "--name-only", "--diff-filter=U").split() if p.startswith("shared/locales/")]
    if not conflicted:
        print("merge_catalogs: no conflicted catalog")
        return 0
    disagreements = [d for p in conflicted if p.endswith(".po") for d in merge(p)]
    # Templates and compiled catalogs are made again from the merged sources and .po files just below.
    others = [p for p in conflicted if not p.endswith(".po")]
    if others:
        _git("checkout", "--ours", "--", *others)
    subprocess.run([sys.executable, "scripts/extract_messages.py"], cwd=ROOT, check=True)
    _git("add", "--", "shared/locales")
    for line in disagreements:
        print("both sides translated differently, ours kept:", line)
    print(f"merge_catalogs: {len(conflicted)} catalog files merged and staged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
