"""Facts of the machine kconform runs on, and what every layer stands on: records, paths, uapi constants, /proc,
privilege, the kernel, the architecture, the bad-input contract (usage)."""
