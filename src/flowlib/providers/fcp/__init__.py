"""The ``fcp`` provider plugin (under construction in this working tree)."""
