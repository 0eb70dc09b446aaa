"""The ``slurm`` provider plugin (under construction in this working tree)."""
