"""Tiny helpers for writing DuckDB SQL safely: quoted identifiers and literals."""

from __future__ import annotations


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
