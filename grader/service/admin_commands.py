"""``grade serve token``, ``grade serve secret`` and ``grade serve events``: an operator's
commands on the service's database (run beside a live service or without one)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from ..cli.output import fail, say
from ..errors import GraderError, UsageError
from .cli_support import DATA_OPTIONS, DurationType, serve_store, when, with_options

EXPIRES_OPTION = click.option(
    "--expires-in",
    type=DurationType(),
    default=None,
    help="The token stops working after this long (3600, 90m, 12h, 30d; default: never).",
)
FORMAT_OPTION = click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)


def _course(course: str) -> str:
    if not course.strip() or len(course) > 200 or not course.isprintable():
        fail(UsageError("COURSE must be printable text of at most 200 characters."))
    return course


@click.group("token")
def token_group() -> None:
    """Bearer tokens, one course each: create, list, revoke, rotate."""


@token_group.command("create")
@click.argument("course")
@EXPIRES_OPTION
@with_options(DATA_OPTIONS)
@click.pass_context
def token_create_command(ctx: click.Context, course: str, expires_in: float | None,
                         data_dir: Path | None, database: str | None) -> None:  # fmt: skip
    """Make a bearer token for COURSE (made if new) and print it.

    The token is shown once and stored only hashed. The course's callback signing
    secret (Standard Webhooks, whsec_...) is printed on stderr.
    """
    store = serve_store(ctx, data_dir, database)
    expires = time.time() + expires_in if expires_in else None
    token, secret = store.tokens.create(_course(course), expires)
    store.close()
    click.echo(token)
    say(f"Course {course!r}: callback signing secret {secret}")


@token_group.command("list")
@click.argument("course")
@FORMAT_OPTION
@with_options(DATA_OPTIONS)
@click.pass_context
def token_list_command(ctx: click.Context, course: str, fmt: str, data_dir: Path | None,
                       database: str | None) -> None:  # fmt: skip
    """COURSE's tokens: id, the first characters, made, expires, state."""
    store = serve_store(ctx, data_dir, database)
    tokens = store.tokens.of_course(course)
    store.close()
    now = time.time()
    if fmt == "json":
        rows = [{"id": t.id, "prefix": t.prefix, "created_at": t.created_at,
                 "expires_at": t.expires_at, "revoked_at": t.revoked_at, "state": t.state(now)}
                for t in tokens]  # fmt: skip
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'id':>5}  {'token':<16} {'created':<26} {'expires':<26} state")
    for t in tokens:
        click.echo(f"{t.id:>5}  {t.prefix + '...':<16} {when(t.created_at):<26} "
                   f"{when(t.expires_at):<26} {t.state(now)}")  # fmt: skip


@token_group.command("revoke")
@click.argument("course")
@click.argument("token_ids", nargs=-1, type=int)
@click.option("--all", "revoke_all", is_flag=True, help="Every token of COURSE.")
@with_options(DATA_OPTIONS)
@click.pass_context
def token_revoke_command(ctx: click.Context, course: str, token_ids: tuple[int, ...],
                         revoke_all: bool, data_dir: Path | None,
                         database: str | None) -> None:  # fmt: skip
    """Revoke tokens of COURSE by id (see `token list`), or --all: 401 from the next request."""
    if bool(token_ids) == revoke_all:
        fail(UsageError("Name the token ids to revoke, or give --all (not both)."))
    store = serve_store(ctx, data_dir, database)
    try:
        count = store.tokens.revoke(course, None if revoke_all else list(token_ids))
    finally:
        store.close()
    say(f"Course {course!r}: {count} token(s) revoked.")


@token_group.command("rotate")
@click.argument("course")
@click.option("--overlap", type=DurationType(), default=3600.0, show_default=True,
              help="How long COURSE's other tokens go on working (0: stop now).")  # fmt: skip
@EXPIRES_OPTION
@with_options(DATA_OPTIONS)
@click.pass_context
def token_rotate_command(ctx: click.Context, course: str, overlap: float,
                         expires_in: float | None, data_dir: Path | None,
                         database: str | None) -> None:  # fmt: skip
    """Make a new token for COURSE (printed) and end its others after --overlap."""
    store = serve_store(ctx, data_dir, database)
    try:
        store.tokens.of_course(course) or fail(
            UsageError(f"No course {course!r} in this database.")
        )
        expires = time.time() + expires_in if expires_in else None
        token = store.tokens.rotate(course, overlap, expires)
    finally:
        store.close()
    click.echo(token)
    say(f"Course {course!r}: its other tokens stop working in {overlap:g} s.")


@click.group("secret")
def secret_group() -> None:
    """The courses' callback signing secrets."""


@secret_group.command("rotate")
@click.argument("course")
@click.option("--overlap", type=DurationType(), default=86400.0, show_default=True,
              help="How long the old secret goes on signing beside the new one.")  # fmt: skip
@with_options(DATA_OPTIONS)
@click.pass_context
def secret_rotate_command(ctx: click.Context, course: str, overlap: float,
                          data_dir: Path | None, database: str | None) -> None:  # fmt: skip
    """Make a new signing secret for COURSE (printed); callbacks carry a signature under
    each of the two secrets for --overlap, so receivers switch without missing one."""
    store = serve_store(ctx, data_dir, database)
    try:
        secret = store.tokens.rotate_secret(course, overlap)
    except GraderError as exc:
        fail(exc)
    finally:
        store.close()
    click.echo(secret)


@click.command("events")
@click.argument("job")
@FORMAT_OPTION
@with_options(DATA_OPTIONS)
@click.pass_context
def events_command(ctx: click.Context, job: str, fmt: str, data_dir: Path | None,
                   database: str | None) -> None:  # fmt: skip
    """What happened to JOB (an id), in order: accepted, claimed, released, requeued,
    infrastructure errors, done, callbacks..."""
    store = serve_store(ctx, data_dir, database)
    try:
        record = store.reads.job(job)
        events = store.reads.events(job) if record else None
    finally:
        store.close()
    if record is None or events is None:
        fail(UsageError(f"No job {job[:64]!r} in this database."))
    if fmt == "json":
        rows = [{"at": e.at, "kind": e.kind, "worker": e.worker, "detail": e.detail}
                for e in events]  # fmt: skip
        click.echo(json.dumps({"job": job, "course": record.course, "status": record.status,
                               "events": rows}, indent=2))  # fmt: skip
        return
    click.echo(f"job {job} ({record.course}, {record.student or 'no student'}): {record.status}")
    for e in events:
        extra = " ".join(x for x in (e.worker or "", e.detail or "") if x)
        click.echo(f"{when(e.at)}  {e.kind:<24} {extra}")
