"""The loader's entry point: resolve the inputs, load the model, validate it, extract the
privilege model (``Project``) and, when asked, the effective config.

The steps live beside it: ``inputs`` (environment and files), ``compose_model`` (documents,
include, extends, merge), ``validate``, ``extract``, ``effective``; their shared types in ``types``.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

from leastcap.loader.compose_model import ModelLoader
from leastcap.loader.effective import effective_json
from leastcap.loader.extract import build_project
from leastcap.loader.inputs import resolve_inputs
from leastcap.loader.nodes import scalar_text
from leastcap.loader.types import LoadContext, LoadError, LoadOptions, LoadResult
from leastcap.loader.validate import validate
from leastcap.model import Problem
from leastcap.tree import Tree


def normalize_project_name(name: str) -> str:
    return re.sub(r"^[^a-z0-9]+", "", re.sub(r"[^a-z0-9_-]", "", name.lower()))


def load(
    options: LoadOptions,
    tree: Tree,
    cache: dict[bytes, Any] | None = None,
    *,
    effective: bool = True,
    partial: bool = False,
) -> LoadResult:
    ctx = LoadContext(tree, cache)
    try:
        inputs = resolve_inputs(options, ctx)
        loader = ModelLoader(ctx, inputs.env, inputs.project_dir, inputs.files)
        model = loader.load(inputs.files)
        name = options.project_name or inputs.env.get("COMPOSE_PROJECT_NAME") or scalar_text(model.items.get("name"))
        name = normalize_project_name(name or posixpath.basename(inputs.project_dir)) or "default"
        validate(model, ctx, inputs)
        project = build_project(model, name, inputs, ctx)
        # compose prints no effective config for a project it refuses.
        config_json = effective_json(model, name) if effective and not ctx.refusals else None
    except LoadError as exc:
        return LoadResult(None, None, (*ctx.refusals, exc.problem()), tuple(ctx.warnings))
    except RecursionError:
        return LoadResult(
            None,
            None,
            (Problem(tree.display(options.working_dir), "input nested too deeply to load"),),
            tuple(ctx.warnings),
        )
    if ctx.refusals and not partial:
        return LoadResult(None, None, tuple(ctx.refusals), tuple(ctx.warnings))
    return LoadResult(project, config_json, tuple(ctx.refusals), tuple(ctx.warnings))


__all__ = ["load", "normalize_project_name"]
