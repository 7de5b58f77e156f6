"""The app's base model: a pydantic model whose validator and serializer are built on its first use, not at import.

Building a model's validator is most of what defining it costs, and every module the function app imports pays for
its models on each cold start, most of which a given call never touches. So every model of the app is built when it
is first validated, dumped or described (the OpenAPI document), exactly as it would have been at import: the same
rules, errors and schema. What the landing page reads is built at import on purpose (`accept_invite.link_views`).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    """Base of every model of the app (entities, rows, API bodies and answers, settings)."""

    model_config = ConfigDict(defer_build=True)
