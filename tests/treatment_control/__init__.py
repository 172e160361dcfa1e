"""Tests of ``healthtwin.control``.

Not named ``tests/control``: pytest would register that package as the top-level module
``control`` and shadow python-control, which the python-anesthesia-simulator oracle imports.
"""
