"""The rules: one module per rule, registered in :mod:`leastcap.rules.registry`."""
