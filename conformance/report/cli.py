"""Subcommands of this package (registered into the kconform CLI)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any


def register(sub: argparse._SubParsersAction[Any], handlers: dict[str, Callable[[argparse.Namespace, Sequence[str]], int]]) -> None:
    return None
