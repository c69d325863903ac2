"""The commands that delete from the archive: rm (whole pages) and prune (old versions), each
telling what went and the room it freed."""

from __future__ import annotations

import dataclasses
import os
from datetime import datetime
from pathlib import Path

import click

from archive import Archive, maintenance
from scraper.cli.options import F, db_option, open_archive, url_prefix_option
from scraper.cli.output import count, field, json_line, size


def _deletion_options(func: F) -> F:
    """-n/--dry-run, --vacuum and --json: how rm and prune delete, and what they tell."""
    func = click.option("--json", "as_json", is_flag=True, help="What was deleted, as JSON on stdout.")(func)
    func = click.option("--vacuum", is_flag=True,
                        help="Then rewrite the file to give the room back (SQLite VACUUM).")(func)
    return click.option("-n", "--dry-run", is_flag=True, help="Say what would be deleted, and delete nothing.")(func)


@click.command("rm")
@click.argument("urls", nargs=-1, required=True, metavar="URL...")
@_deletion_options
@db_option
def rm_command(urls: tuple[str, ...], dry_run: bool, vacuum: bool, as_json: bool, db_path: Path) -> None:
    """Delete pages with all their versions, their stored HTML that nothing else uses, and
    their search and near-duplicate entries. Each page goes in one transaction: an
    interrupted rm leaves every page whole or gone. Any URL not archived: nothing deleted, exit 1."""
    with open_archive(db_path, must_exist=True, write=True) as archive:
        removed = maintenance.remove(archive, list(urls), dry_run=dry_run)
        for url in removed.urls:
            click.echo(f"{'would delete' if dry_run else 'deleted'}\t{field(url)}", err=True)
        _report_removed(archive, removed, dry_run=dry_run, vacuum=vacuum, as_json=as_json)


def _older_than(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return maintenance.parse_age(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


@click.command("prune")
@click.option("--keep", type=click.IntRange(min=1), metavar="N", help="Keep the N newest versions of each page.")
@click.option("--older-than", metavar="AGE", callback=_older_than,
              help="Delete versions fetched before AGE ago: 30d, 2w, 6m (months), 1y, or a date.")
@url_prefix_option
@_deletion_options
@db_option
def prune_command(keep: int | None, older_than: datetime | None, url_prefix: str | None, dry_run: bool,
                  vacuum: bool, as_json: bool, db_path: Path) -> None:
    """Delete old versions, never the latest of a page: those past the --keep newest, or
    fetched before --older-than (given both, only versions that are both), with their stored
    HTML that nothing else uses and their search and near-duplicate entries. Each page is
    pruned in one transaction: an interrupted prune leaves every page whole."""
    if keep is None and older_than is None:
        raise click.UsageError("say which versions to delete: --keep N, --older-than AGE, or both")
    with open_archive(db_path, must_exist=True, write=True) as archive:
        removed = maintenance.prune(archive, keep=keep, older_than=older_than, url_prefix=url_prefix,
                                    dry_run=dry_run)
        if dry_run:
            for url in removed.urls:
                click.echo(f"would prune\t{field(url)}", err=True)
        _report_removed(archive, removed, dry_run=dry_run, vacuum=vacuum, as_json=as_json)


def _report_removed(archive: Archive, removed: maintenance.Removed, *, dry_run: bool,
                    vacuum: bool, as_json: bool) -> None:
    """What rm or prune took away, on stderr (and as JSON on stdout), with VACUUM advice."""
    verb = "would free" if dry_run else "freed"
    if not dry_run:
        archive.tidy()  # gives free pages back where the file was made with auto_vacuum
        if vacuum:
            maintenance.vacuum(archive)
    click.echo(f"{count(removed.pages, 'page')}, {count(removed.versions, 'version')}, "
               f"{count(removed.blobs, 'stored HTML')} {'would go' if dry_run else 'deleted'}: "
               f"{verb} {size(removed.bytes)} of data", err=True)
    room = os.path.getsize(archive.path) - maintenance.file_size(archive)
    if not dry_run and not vacuum and removed.bytes and room > 0:
        click.echo(f"The file keeps {size(room)} of free room for new pages; to give it back, "
                   "run `VACUUM` (or this command again with --vacuum): it rewrites the file.", err=True)
    if as_json:
        click.echo(json_line({**dataclasses.asdict(removed), "dry_run": dry_run,
                              "file_bytes": os.path.getsize(archive.path)}))
