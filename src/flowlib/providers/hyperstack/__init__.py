"""The ``hyperstack`` provider plugin (under construction in this working tree)."""
