"""The ``carbonplane`` command line.

``main.app`` is the entry point; one module per command group.
"""
