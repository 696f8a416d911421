"""What keeps cases and runs apart and the machine as it was: the machine-wide lock, announced and journaled global
changes, the snapshot and the guards, signals (interrupt)."""
