"""leastcap: from `privileged: true` to least privilege, and kept there."""

__version__ = "0.1.0"
