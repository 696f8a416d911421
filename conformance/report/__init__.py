"""Reports of a run, one writer per format (junit, ktap, json, kcidb), the matrix, baselines, LAVA, SQUAD, compare, and
``kconform report``."""
