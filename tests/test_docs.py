"""Documentation that cannot drift: every setting, command, option, preset and canonical
column is documented, and the public API is exactly what __all__ says."""

from __future__ import annotations

import re
import tomllib

import typer.main

import tenure
from tenure.cli import app
from tenure.config import Settings, render_template, setting_names
from tenure.ingest.presets import NAMES
from tenure.ingest.schema import TABLES
from tests.conftest import REPO

README = (REPO / "README.md").read_text()
CLI_DOC = (REPO / "docs" / "cli.md").read_text()
CONFIG_DOC = (REPO / "docs" / "configuration.md").read_text()
INGEST_DOC = (REPO / "docs" / "ingest.md").read_text()


def test_readme_starts_with_the_two_commands():
    head = README[:600]
    assert "make demo" in head and "make test" in head


def test_every_setting_is_documented_and_in_the_template():
    template = render_template()
    assert Settings.model_validate(tomllib.loads(template)) == Settings()
    for name in setting_names():
        assert f"`{name}`" in CONFIG_DOC, f"docs/configuration.md does not document {name}"
        assert name.rsplit(".", 1)[-1] in template


def _commands():
    """(full name, click command) of every command, subcommands of groups included."""
    def walk(group, prefix):
        for name, cmd in group.commands.items():
            if hasattr(cmd, "commands"):  # a group of subcommands (`tenure export ...`)
                yield from walk(cmd, f"{prefix}{name} ")
            else:
                yield f"{prefix}{name}", cmd

    return list(walk(typer.main.get_command(app), ""))


def test_every_command_and_option_is_documented():
    for name, command in _commands():
        assert re.search(rf"^## `tenure {name}", CLI_DOC, re.M), f"docs/cli.md has no section for `tenure {name}`"
        section = CLI_DOC.split(f"## `tenure {name}", 1)[1].split("\n## ", 1)[0]
        for param in command.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("--"):
                    assert f"`{opt}" in section, f"docs/cli.md: `tenure {name}` does not document {opt}"
            if param.param_type_name == "argument":
                shown = (param.metavar or param.name).upper().rstrip(".")
                assert shown in section, f"docs/cli.md: `tenure {name}` does not document {shown}"


def test_every_command_has_help():
    for name, command in _commands():
        assert command.help, f"tenure {name} has no help text"
        for param in command.params:
            if param.param_type_name == "option":
                assert param.help, f"tenure {name} {param.opts[0]} has no help text"


def test_canonical_tables_and_presets_are_documented():
    for table, columns in TABLES.items():
        assert f"`{table}`" in README
        for col in columns:
            assert f"`{col.name}`" in README, f"README does not document {table}.{col.name}"
    for preset in NAMES:
        assert f"`{preset}`" in INGEST_DOC


def test_public_api():
    assert sorted(tenure.__all__) == ["IngestSummary", "TenureError", "Workspace", "__version__", "generate"]
    for name in tenure.__all__:
        assert hasattr(tenure, name)


def test_every_api_endpoint_is_documented(tmp_path):
    from tenure.server.app import create_app

    app = create_app(tenure.Workspace.init(tmp_path / "ws"))
    doc = (REPO / "docs" / "server.md").read_text()
    paths = app.openapi()["paths"]
    assert len(paths) >= 18
    for path, methods in paths.items():
        for method in methods:
            assert f"`{method.upper()} {path}`" in doc, f"docs/server.md does not document {method.upper()} {path}"
