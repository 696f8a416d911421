"""The ``kconform`` command line: ``main.py`` parses and dispatches, ``errors.py`` holds the bad-input contract
(one line on stderr, exit status 2) that every subcommand module uses."""
