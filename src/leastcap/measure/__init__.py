"""Measure real programs (Debian packages) with leastcap profile; the harness behind bench/measure_images.py."""
