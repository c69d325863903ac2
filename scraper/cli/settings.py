"""config: the settings in effect, and where each comes from."""

from __future__ import annotations

import json
from typing import Any

import click

from scraper import config
from scraper.cli.output import echo_rows, safe


@click.command("config")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per setting.")
@click.pass_context
def config_command(ctx: click.Context, as_json: bool) -> None:
    """Show the settings in effect, and where each comes from: the environment, the config
    file or the built-in default (an option on a command's line beats them all)."""
    root = ctx.find_root()
    path, settings = root.meta["config"]
    assert isinstance(root.command, click.Group)
    builtin: dict[str, Any] = {}
    for name, key in config.KEYS.items():
        for command in root.command.commands.values():
            found = [param for param in command.params if param.name == key.param]
            if found:
                param = found[0]
                several = getattr(param, "multiple", False) or param.nargs == -1
                builtin[name] = [] if several else param.default
                break
    click.echo(f"# config file: {path if path is not None and path.exists() else 'none'}", err=True)
    rows = ({"key": name, "value": value, "source": source}
            for name, value, source in config.effective(settings, path, builtin))
    echo_rows(rows, lambda row: f"{row['key']} = {safe(json.dumps(row['value'], ensure_ascii=False))}\t"
                                f"# {safe(row['source'])}", as_json=as_json)
