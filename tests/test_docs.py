"""The README documents every command and every setting litmon reads (sqlite-utils style)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from monitor.cli import build_parser
from monitor.config import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _commands(parser: argparse.ArgumentParser, path: str = "litmon"):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                has_children = any(isinstance(a, argparse._SubParsersAction) for a in sub._actions)
                if has_children:
                    yield from _commands(sub, f"{path} {name}")
                else:
                    yield f"{path} {name}"


def test_every_command_is_in_the_readme() -> None:
    commands = list(_commands(build_parser()))
    assert len(commands) >= 15
    missing = [c for c in commands if f"`{c}" not in README]
    assert missing == [], f"commands missing from README.md: {missing}"


def test_every_setting_is_in_the_readme() -> None:
    names = [f"LITMON_{f.name.upper()}" for f in dataclasses.fields(Settings) if f.name != "extra"]
    missing = [n for n in names if n not in README]
    assert missing == [], f"settings missing from README.md: {missing}"
