"""The typed getters of the user-worker rows read the field they are named after."""

from __future__ import annotations

import importlib
from typing import Any


class _Reads:
    """Records the last attribute read (of the observation or of its raw result)."""

    def __init__(self, seen: list[str]) -> None:
        self._seen = seen

    def __getattr__(self, name: str) -> Any:
        self._seen.append(name)
        return _Reads(self._seen) if name == "r" else 0


def test_each_field_reads_the_attribute_it_is_named_after() -> None:
    model = importlib.import_module("kconform_cases.user_workers.model")
    fields = [v for k, v in vars(model.F).items() if not k.startswith("_")]
    assert len(fields) > 40
    for f in fields:
        seen: list[str] = []
        f.get(_Reads(seen))
        assert seen and seen[-1] == f.name, (f.name, seen)
