"""``grade serve lti`` (platform registrations, the tool's public key) and
``grade serve links`` (each student's link to their page): an instructor's or an
operator's commands on the service's database, run beside a live service or without.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import click

from ..cli.output import fail, say
from ..errors import GraderError, UsageError
from .cli_support import DATA_OPTIONS, DurationType, serve_store, when, with_options

PUBLIC_URL_ENV = "GRADER_PUBLIC_URL"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
ROSTER_COLUMNS = ("student", "id", "login", "username", "email")
AGS_SCOPES = (
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
)

BASE_URL_OPTION = click.option(
    "--base-url",
    envvar=PUBLIC_URL_ENV,
    help=f"The service's address as students and platforms reach it, e.g. "
    f"https://grader.example.edu [env {PUBLIC_URL_ENV}].",
)


def checked_url(value: str, what: str) -> str:
    """An https URL (plain http only on this machine: a test platform)."""
    parts = urlsplit(value)
    secure = parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK)
    if not parts.netloc or not secure or len(value) > 2000:
        fail(UsageError(f"{what} must be an https URL (http only for 127.0.0.1): {value!r}"))
    return value


def _data_dir(ctx: click.Context, data_dir: Path | None) -> Path | None:
    node: click.Context | None = ctx
    while node is not None and node.command.name != "serve":
        node = node.parent
    return data_dir or (node.params.get("data_dir") if node is not None else None)


@click.group("lti")
def lti_group() -> None:
    """LTI 1.3 platform registrations (one course each), and the tool's public key."""


@lti_group.command("add")
@click.option("--issuer", required=True, help="The platform's issuer (iss).")
@click.option("--client-id", required=True, help="The client id the platform gave the tool.")
@click.option("--deployment-id", "deployment_ids", required=True, multiple=True,
              help="A deployment id the platform gave the tool (repeatable).")  # fmt: skip
@click.option("--auth-login-url", required=True, help="The platform's OIDC auth URL.")
@click.option("--auth-token-url", required=True, help="The platform's OAuth2 token URL.")
@click.option("--key-set-url", required=True, help="The platform's public keys (JWKS URL).")
@click.option("--auth-audience", default=None, help="The token's audience, if not its URL.")
@click.option("--course", required=True, help="The service's course its launches submit to.")
@BASE_URL_OPTION
@with_options(DATA_OPTIONS)
@click.pass_context
def lti_add_command(ctx: click.Context, issuer: str, client_id: str,
                    deployment_ids: tuple[str, ...], auth_login_url: str, auth_token_url: str,
                    key_set_url: str, auth_audience: str | None, course: str,
                    base_url: str | None, data_dir: Path | None,
                    database: str | None) -> None:  # fmt: skip
    """Register a platform (issuer + client id): its launches open COURSE's page.

    Prints the registration's id; with --base-url, also the URLs to give the platform.
    """
    urls = {"--issuer": issuer, "--auth-login-url": auth_login_url,
            "--auth-token-url": auth_token_url, "--key-set-url": key_set_url}  # fmt: skip
    for flag, value in urls.items():
        checked_url(value, flag)
    if not course.strip() or len(course) > 200 or not course.isprintable():
        fail(UsageError("--course must be printable text of at most 200 characters."))
    store = serve_store(ctx, data_dir, database)
    try:
        record = store.lti.add(
            issuer=issuer, client_id=client_id, deployment_ids=list(deployment_ids),
            auth_login_url=auth_login_url, auth_token_url=auth_token_url,
            key_set_url=key_set_url, auth_audience=auth_audience, course=course,
        )  # fmt: skip
    except GraderError as exc:
        fail(exc)
    finally:
        store.close()
    click.echo(record.id)
    say(f"Registered {issuer} (client {client_id}) for course {course!r}.")
    if base_url:
        base = checked_url(base_url.rstrip("/"), "--base-url")
        say(f"Give the platform: login URL {base}/lti/login, redirect (launch) URL "
            f"{base}/lti/launch, key set URL {base}/lti/jwks")  # fmt: skip
        say(f"and the scopes {' '.join(AGS_SCOPES)}")


@lti_group.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)  # fmt: skip
@with_options(DATA_OPTIONS)
@click.pass_context
def lti_list_command(ctx: click.Context, fmt: str, data_dir: Path | None,
                     database: str | None) -> None:  # fmt: skip
    """The registered platforms: id, course, issuer, client id, deployments."""
    store = serve_store(ctx, data_dir, database)
    try:
        records = store.lti.registrations()
    finally:
        store.close()
    if fmt == "json":
        rows = [{"id": r.id, "course": r.course, "issuer": r.issuer, "client_id": r.client_id,
                 "deployment_ids": list(r.deployment_ids), "auth_login_url": r.auth_login_url,
                 "auth_token_url": r.auth_token_url, "key_set_url": r.key_set_url,
                 "auth_audience": r.auth_audience, "created_at": r.created_at}
                for r in records]  # fmt: skip
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'id':>4}  {'course':<16} {'issuer':<40} {'client id':<24} deployments")
    for r in records:
        click.echo(f"{r.id:>4}  {r.course:<16} {r.issuer:<40} {r.client_id:<24} "
                   f"{', '.join(r.deployment_ids)}")  # fmt: skip


@lti_group.command("remove")
@click.argument("registration_id", type=int)
@with_options(DATA_OPTIONS)
@click.pass_context
def lti_remove_command(ctx: click.Context, registration_id: int, data_dir: Path | None,
                       database: str | None) -> None:  # fmt: skip
    """Remove a registration (see `lti list`): its launches are refused from now on, and
    grades still to send for its earlier launches fail (their events say so)."""
    store = serve_store(ctx, data_dir, database)
    try:
        record = store.lti.remove(registration_id)
    except GraderError as exc:
        fail(exc)
    finally:
        store.close()
    say(f"Removed registration {record.id} ({record.issuer}, client {record.client_id}).")


@lti_group.command("key")
@click.option("--format", "fmt", type=click.Choice(["jwks", "pem"]), default="jwks",
              show_default=True)  # fmt: skip
@with_options(DATA_OPTIONS)
@click.pass_context
def lti_key_command(ctx: click.Context, fmt: str, data_dir: Path | None,
                    database: str | None) -> None:  # fmt: skip
    """Print the tool's public key (made in the data folder if new), for a platform that
    takes a pasted key rather than the key set URL."""
    from .config import private_folder
    from .lti.keys import load_or_create

    key = load_or_create(private_folder(_data_dir(ctx, data_dir)))
    click.echo(json.dumps(key.jwks(), indent=2) if fmt == "jwks" else key.public_pem.rstrip())


def roster_ids(text: str) -> list[str]:
    """Student ids from a roster: the column named student, id, login, username or email
    (in that order), else the first column; blank ids skipped, duplicates once."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return []
    header = [cell.strip().lower() for cell in rows[0]]
    column = next((header.index(c) for c in ROSTER_COLUMNS if c in header), None)
    body = rows[1:] if column is not None else rows
    ids = [row[column or 0].strip() for row in body if len(row) > (column or 0)]
    return list(dict.fromkeys(i for i in ids if i))


@click.command("links")
@click.argument("course")
@click.option("--students", "roster", type=click.File("r", encoding="utf-8-sig"),
              help="CSV roster: column student (or id, login, email), else the first.")  # fmt: skip
@click.option("--student", "extra", multiple=True, help="A student id (repeatable).")
@click.option("--expires-in", type=DurationType(), default=None,
              help="The links stop working after this long (30d, 12h; default never).")  # fmt: skip
@click.option("--revoke", is_flag=True,
              help="End every link made for COURSE before (a new link key) first.")  # fmt: skip
@BASE_URL_OPTION
@with_options(DATA_OPTIONS)
@click.pass_context
def links_command(ctx: click.Context, course: str, roster: io.TextIOBase | None,
                  extra: tuple[str, ...], expires_in: float | None, revoke: bool,
                  base_url: str | None, data_dir: Path | None,
                  database: str | None) -> None:  # fmt: skip
    """Print each student's link to COURSE's submission page (CSV: student,url).

    A link holds a code signed with COURSE's link key, naming the course and the
    student (and its expiry): a changed or forged one is refused.
    """
    from .codes import PageCode, make_code

    ids = roster_ids(roster.read()) if roster is not None else []
    ids = list(dict.fromkeys([*ids, *(s.strip() for s in extra if s.strip())]))
    bad = [i for i in ids if len(i) > 200 or not i.isprintable()]
    if bad:
        fail(UsageError(f"Student ids must be printable, at most 200 characters: {bad[0]!r}"))
    if not ids and not revoke:
        fail(UsageError("Give --students ROSTER.csv or --student ID (or --revoke alone)."))
    if ids and not base_url:
        fail(UsageError(f"Give --base-url (or {PUBLIC_URL_ENV}): the links' address."))
    base = checked_url(base_url.rstrip("/"), "--base-url") if base_url else ""
    store = serve_store(ctx, data_dir, database)
    expires = time.time() + expires_in if expires_in else None
    try:
        if revoke:
            store.pages.new_key(course)
            say(f"Course {course!r}: every link made before no longer works.")
        out = csv.writer(sys.stdout, lineterminator=os.linesep)
        if ids:
            out.writerow(["student", "url"])
        for student in ids:
            code = make_code(store, PageCode(course, student, None, expires))
            out.writerow([student, f"{base}/s/{code}"])
    finally:
        store.close()
    if ids:
        until = when(expires) if expires else "revoked"
        say(f"{len(ids)} link(s) for course {course!r}, valid until {until}.")
