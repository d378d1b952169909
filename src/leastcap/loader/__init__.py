"""Load Compose projects exactly as Docker Compose v2 (compose-go) does, keeping positions.

Public API:
    load_project(options, tree) -> LoadResult
    discover_projects(paths, tree, ...) -> list[LoadOptions]   (directory scan)
"""

from leastcap.loader.api import LoadError, LoadOptions, LoadResult, discover_projects, load_project

__all__ = ["LoadError", "LoadOptions", "LoadResult", "discover_projects", "load_project"]
