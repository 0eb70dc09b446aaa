"""flowlib: describe a GPU job once, run it anywhere."""
__version__ = "0.1.0"
