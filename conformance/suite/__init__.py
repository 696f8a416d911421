"""The case model and its verdicts: families and behaviours (registry), probes and requirements, the case template,
checks, waits, expectations, shards, results."""
