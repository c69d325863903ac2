"""The archive's tables, as an ordered list of migrations applied in place."""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("scraper.archive")


@migrations()
def m001_initial(db: Database) -> None:
    db.table("pages").create(
        {
            "id": int,
            "url": str,  # canonical form of the URL as requested: the page's identity
            "final_url": str,  # where the last fetch ended after redirects
            "first_seen": str,
            "last_checked": str,  # last successful fetch, changed or not
            "last_changed": str,  # when the latest version was made
            "latest_version": int,
        },
        pk="id",
        not_null={"url", "first_seen", "last_checked", "latest_version"},
        defaults={"latest_version": 0},
    )
    db.table("pages").create_index(["url"], unique=True)
    db.table("blobs").create(
        {"sha256": str, "size": int, "compression": str, "content": bytes},
        pk="sha256",
        not_null={"size", "compression", "content"},
    )
    db.table("versions").create(
        {
            "id": int,
            "page_id": int,
            "version": int,
            "fetched_at": str,
            "final_url": str,
            "status": int,
            "headers": str,  # JSON object of the response headers
            "encoding": str,
            "html_sha256": str,
            "content_hash": str,  # of title and text: a new version only when it changes
            "title": str,
            "author": str,
            "published": str,
            "language": str,
            "site_name": str,
            "description": str,
            "canonical_url": str,
            "image": str,
            "word_count": int,
            "text": str,
        },
        pk="id",
        foreign_keys=[("page_id", "pages", "id"), ("html_sha256", "blobs", "sha256")],
        not_null={"page_id", "version", "fetched_at", "html_sha256", "content_hash", "text"},
    )
    db.table("versions").create_index(["page_id", "version"], unique=True)
    db.table("versions").create_index(["fetched_at"])
    db.table("runs").create(
        {
            "id": int,
            "command": str,
            "started_at": str,
            "finished_at": str,
            "status": str,  # running | finished | interrupted
            "urls": int,
            "new_versions": int,
            "unchanged": int,
            "failed": int,
        },
        pk="id",
    )
    db.table("fetches").create(
        {
            "id": int,
            "run_id": int,
            "url": str,
            "at": str,
            "outcome": str,  # new | unchanged | failed | skipped (from schema 3)
            "version": int,
            "status": int,
            "reason": str,  # short label for failures: "http 404", "timeout", ...
            "error": str,
        },
        pk="id",
        foreign_keys=[("run_id", "runs", "id")],
        not_null={"url", "at", "outcome"},
    )
    db.table("fetches").create_index(["run_id"])
    db.table("fetches").create_index(["outcome", "at"])


@migrations()
def m002_markdown_authors_modified(db: Database) -> None:
    versions = db.table("versions")
    versions.add_column("markdown", str)  # the article as Markdown: headings, lists, links
    versions.add_column("authors", str)  # JSON list; "author" keeps them joined by "; "
    versions.add_column("modified", str)  # when the page says the article last changed


@migrations()
def m003_validators_and_leases(db: Database) -> None:
    pages = db.table("pages")
    pages.add_column("etag", str)  # validators of the last fetch, sent back for a conditional GET
    pages.add_column("last_modified", str)
    runs = db.table("runs")
    runs.add_column("skipped", int)  # robots.txt said no, or another run held the URL
    runs.add_column("host", str)  # the machine and process of a run: whether it is still alive
    runs.add_column("pid", int)
    # A run's claim on a URL while it fetches it, so overlapping runs never fetch the same
    # URL at once; a claim left by a dead run expires.
    db.table("leases").create(
        {"url": str, "run_id": int, "expires_at": float},
        pk="url",
        not_null={"run_id", "expires_at"},
    )


def needs_upgrade(db: Database) -> bool:
    return bool(migrations.pending(db))


def upgrade(db: Database) -> None:
    """Bring a database of any earlier schema up to date, in place (migrations left pending only)."""
    migrations.apply(db)
