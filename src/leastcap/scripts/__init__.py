"""``docker run --privileged`` and friends in scripts and CI configs, as the shared model.

``collect(paths, tree, enabled)`` walks the given paths and returns one ``Project`` per file that
starts containers (``source=SourceKind.SCRIPT``; ``project`` is the file's display path, each
``Service`` one command or CI container), so the Compose rules, suppression and reporters apply
unchanged. See docs/scripts.md.
"""

from leastcap.scripts.collect import KINDS, classify, collect, is_script

__all__ = ["KINDS", "classify", "collect", "is_script"]
