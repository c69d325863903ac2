"""serve: the archive in a web browser, read-only."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from scraper.cli.options import db_option, require_archive
from scraper.cli.output import safe


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; any but a loopback one needs --token.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="Port to listen on (0: any free one, printed at start).")
@click.option("--token", envvar="SCRAPER_TOKEN",
              help="Secret every request must carry (?token=, then a cookie; or Authorization: Bearer). "
                   "Also SCRAPER_TOKEN.")
@db_option
def serve_command(host: str, port: int, token: str | None, db_path: Path) -> None:
    """Browse the archive in a web browser: pages, search, versions, diffs, runs, failures.

    Every view is JSON too (a .json suffix or Accept: application/json); /changes.atom is a
    feed of changes. The archive is opened read-only: serve it beside the cron job's runs.
    """
    from archive.web import Web, bind, is_loopback, serve

    if not token and not is_loopback(host):
        click.echo(f"Error: serving on {safe(host)} needs --token (or SCRAPER_TOKEN): anyone who can reach "
                   "it could read the archive", err=True)
        sys.exit(2)
    require_archive(db_path)
    with Web(db_path, token=token) as web:  # opened read-only now: a file that is no archive is told at once
        try:
            sock = bind(host, port)
        except OSError as exc:
            raise click.ClickException(f"cannot listen on {safe(host)} port {port}: {exc.strerror or exc}") from None
        address, bound = sock.getsockname()[:2]
        shown = f"[{address}]" if ":" in address else address
        click.echo(f"Serving {safe(db_path)} (read-only) at http://{shown}:{bound}/ - Ctrl-C to stop", err=True)
        serve(web, sock)
