"""The ``kconform`` command line (main), kconform as pid 1 (pid1) and with a /proc of its own (ownproc)."""
