"""The ``mgmrn`` command line."""
