"""The pytest runner: the plugin, the run's report files (outputs), stdout/stderr errors (stdio)."""
