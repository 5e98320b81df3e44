"""The `registry` command line (also `flask --app registry ...`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from datetime import date
from pathlib import Path

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy import func, select

from registry import walcheckpoint
from registry.config import (
    ENV_PREFIX,
    ConfigError,
    default_instance_path,
    write_instance_config,
)
from registry.context import current_flask_app
from registry.db import refresh_statistics
from registry.messages import _, for_console
from registry.rules import Actor

_APPS: list = []  # the apps this command created (one), their engines disposed at its end


def _create_app():
    from registry import create_app

    try:
        app = create_app()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    _APPS.append(app)
    return app


def _end_quickly() -> None:
    """The process is ending: the database connections closed (a SQLite file's log is
    copied and removed by the last one), what the command left in cycles freed, then
    every object left set aside from the garbage collector. The interpreter's exit
    otherwise collects the generations again before it frees the modules: a fifth of a
    second over the app's objects, in which it has nothing to free. What reference counts
    free is still freed, and the exit's handlers (logging, temporary files, child
    processes) still run. Only for the `registry` program itself (`run`): a process
    that goes on after a command (a test's, Flask's own `flask` program) keeps its
    collector as it was."""
    import gc

    from registry.database import get_db

    while _APPS:
        app = _APPS.pop()
        with suppress(Exception):  # (an app whose database was never opened)
            get_db(app).engine.dispose()
    gc.collect()  # what the command left in cycles, freed (and finalised) now
    gc.freeze()


def system_actor(session, authority_code: str = "MIIT", label: str = "cli") -> Actor:
    """The actor for commands run by an operator at the console."""
    from registry.services.accounts import system_actor_for
    from registry.services.reference import authority_by_code

    return system_actor_for(authority_by_code(session, authority_code), label)


def _session():
    from registry.database import get_db

    return get_db(current_app).session_factory()


@click.command("init")
@click.option(
    "--demo", is_flag=True, help="Also load realistic fictional data and print a login per role."
)
def init_command(demo: bool) -> None:
    """Create or upgrade the database, seed authorities and listing grounds.

    Safe to run again: it applies only missing migrations and seed rows. The first run
    writes instance/config.py with a random SECRET_KEY and, on SQLite,
    instance/log-signing-key.pem with the key that signs the publication log's tree heads.
    """
    from registry import create_app, signing
    from registry.database import get_db
    from registry.migrate import upgrade
    from registry.services.reference import seed

    instance = default_instance_path()
    # A key of its own only for a single-host SQLite registry: hosts that share PostgreSQL
    # must share one key, so there it comes from REGISTRY_SECRET_KEY (checked at start).
    shared = os.environ.get(ENV_PREFIX + "DATABASE_URL", "").startswith("postgresql")
    if not shared and write_instance_config(instance):
        wrote = _("已写入 %(path)s，含新生成的随机 SECRET_KEY", path=instance / "config.py")
        click.echo(for_console(wrote))
    if not shared and signing.ensure_key_file(instance):
        made = _("已写入 %(path)s，含新生成的公示日志签名密钥", path=instance / signing.KEY_FILE)
        click.echo(for_console(made))
    try:
        app = create_app(instance_path=instance)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    db = get_db(app)
    upgrade(db.engine)
    with db.session_factory() as session:
        bootstrap = Actor(
            user_id=None, username="init", role="system", authority_id=0, is_ministry=True
        )
        added = seed(session, bootstrap)
        session.commit()
        refresh_statistics(session)
        ready = _(
            "数据库已就绪（%(url)s）；新增电信管理机构 %(authorities)s 个、列入事由 %(grounds)s 个",
            url=db.engine.url.render_as_string(),
            authorities=added["authorities"],
            grounds=added["grounds"],
        )
        click.echo(for_console(ready))
        if demo:
            from registry.demo import load_demo

            logins = load_demo(session, system_actor(session, label="demo"))
            session.commit()
            refresh_statistics(session)
            saved = instance / "demo-logins.txt"
            if logins:
                saved.write_text("\n".join(logins) + "\n", encoding="utf-8")
                saved.chmod(0o600)
            else:
                click.echo(for_console(_("演示数据已存在")))
                logins = saved.read_text("utf-8").splitlines() if saved.exists() else []
            if logins:
                kept = _("演示账号（用户名 / 密码 / 角色 @ 机构），保存在 %(path)s：", path=saved)
                click.echo(for_console(kept))
                for login in logins:
                    click.echo(f"  {login}")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@with_appcontext
def serve_command(host: str, port: int) -> None:
    """Run the site with the development server (production: gunicorn registry.wsgi:app).

    The search index follows the database in a background thread of this process."""
    from werkzeug.serving import run_simple

    from registry.web.indexing import WARM_SECONDS, start_followers

    app = current_flask_app()
    start_followers(app, wait=WARM_SECONDS)
    click.echo(for_console(_("网站地址：%(url)s", url=f"http://{host}:{port}/")))
    run_simple(host, port, app, use_reloader=False, use_debugger=False, threaded=True)


@click.group("user")
def user_group() -> None:
    """Regulator accounts."""


@user_group.command("create")
@click.argument("username")
@click.option(
    "--authority", "authority_code", required=True, help="MIIT or a GB/T 2260 province code"
)
@click.option("--role", type=click.Choice(["clerk", "reviewer", "admin"]), required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--display-name", default="")
@with_appcontext
def user_create_command(
    username: str, authority_code: str, role: str, password_stdin: bool, display_name: str
) -> None:
    """Add a user (password prompted, or --password-stdin)."""
    from registry.errors import DomainError, error_text
    from registry.services.accounts import create_user
    from registry.services.reference import authority_by_code

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt(for_console(_("密码")), hide_input=True, confirmation_prompt=True)
    with _session() as session:
        try:
            authority = authority_by_code(session, authority_code)
            user = create_user(
                session,
                system_actor(session, label="cli"),
                username=username,
                password=password,
                authority=authority,
                role=role,
                display_name=display_name,
            )
        except DomainError as exc:
            raise click.ClickException(error_text(exc, for_console)) from None
        session.commit()
        created = _(
            "已创建用户 %(user)s（%(role)s @ %(authority)s）",
            user=user.username,
            role=role,
            authority=authority.name,
        )
        click.echo(for_console(created))


@click.command("sweep")
@click.option(
    "--today",
    "on",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Date to sweep as of (Asia/Shanghai).",
)
@click.option(
    "--orphans-older-than",
    "min_age",
    type=click.IntRange(min=0),
    default=3600,
    show_default=True,
    help="Remove only orphaned evidence files older than this many seconds (an upload on "
    "another host that shares the evidence folder may be in flight).",
)
@with_appcontext
def sweep_command(on, min_age: int) -> None:
    """Record the expiry of listings whose term has ended; delete old personal data of
    closed public submissions; remove orphaned evidence files.

    Public pages already compute expiry at read time; the sweep writes the state change
    and its Event so the history and the publication log show it. The personal data of
    objections, repair requests and tip-offs closed more than SUBMISSION_RETENTION_DAYS
    days ago is deleted (the case and its decision stay), with an Event each. Evidence
    files that no row names (an upload killed between writing its file and committing,
    or an attachment whose submission's personal data was deleted) are removed.
    """
    from registry import rules
    from registry.services.evidence import sweep_orphans
    from registry.services.listings import expire_due

    day: date = on.date() if on else rules.today()
    with _session() as session:
        expired = expire_due(session, system_actor(session, label="sweep"), day)
        session.commit()
        refresh_statistics(session)
    swept = _("截至 %(day)s 期满的记录：%(count)s 条", count=len(expired), day=day.isoformat())
    click.echo(for_console(swept))
    _purge_submissions()
    with _session() as session:
        removed = sweep_orphans(session, current_app.config["EVIDENCE_DIR"], min_age=min_age)
    if removed is None:
        click.echo(for_console(_("证据材料目录正在上传，本次未清理无主文件")))
    else:
        click.echo(for_console(_("已删除无主的证据材料文件 %(count)s 个", count=removed)))


def _purge_submissions() -> None:
    """Delete the personal data of public submissions closed longer than the retention
    period (SUBMISSION_RETENTION_DAYS), one Event per case."""
    from registry.services.casework import purge_closed

    days = current_app.config["SETTINGS"].SUBMISSION_RETENTION_DAYS
    with _session() as session:
        purged = purge_closed(session, system_actor(session, label="sweep"), days)
        session.commit()
    message = _(
        "已删除办结超过 %(days)s 天的申请中的个人信息：%(count)s 件", days=days, count=purged
    )
    click.echo(for_console(message))


@click.command("reindex")
@with_appcontext
def reindex_command() -> None:
    """Rebuild the search index from the database, with a progress bar.

    Builds a complete new index next to the current one and swaps it in with one atomic
    rename, so the site keeps searching the old index until the new one is ready; the
    followers of the serving processes then carry on from it. Holds a lock on the index
    folder: a second reindex at the same time is refused.
    """
    from registry.search.engine import RebuildLocked
    from registry.web.indexing import get_index

    index = get_index(current_app)
    with _session() as session:
        bar = None
        shown = 0

        def progress(done: int, total: int) -> None:
            nonlocal bar, shown
            if bar is None:
                bar = click.progressbar(length=total, label="indexing firms")
                bar.__enter__()
            bar.update(done - shown)
            shown = done

        try:
            total = index.rebuild(session, progress)
        except RebuildLocked:
            busy = _(
                "另一个 `registry reindex` 正在重建 %(path)s，本次未作任何更改", path=index.root
            )
            raise click.ClickException(for_console(busy)) from None
        finally:
            if bar is not None:
                bar.__exit__(None, None, None)
    rebuilt = _(
        "搜索索引已重建：%(total)s 家经营者有公示中的名单记录，位于 %(path)s",
        total=total,
        path=index.root,
    )
    click.echo(for_console(rebuilt))


@click.command("stats")
@with_appcontext
def stats_command() -> None:
    """Counts of records by kind and state."""
    from registry.models import Enterprise, Listing

    with _session() as session:
        firms = session.scalar(select(func.count(Enterprise.id)))
        click.echo(for_console(_("经营者：%(count)s", count=firms)))
        for state, count in session.execute(
            select(Listing.state, func.count()).group_by(Listing.state)
        ):
            click.echo(for_console(_("记录（%(state)s）：%(count)s", state=state, count=count)))


@click.command("verify-log")
@click.option("--url", help="Check the registry at this address over HTTP instead.")
@click.option(
    "--since",
    type=click.Path(dir_okay=False),
    help="With --url: the tree head saved last time; checked, then replaced by the new one.",
)
@click.pass_context
def verify_log_command(ctx: click.Context, url: str | None, since: str | None) -> None:
    """Recompute the publication log's hash chain and Merkle tree; exit 1 on any mismatch.

    With --url, audit a remote registry: the signed tree head against its key, consistency
    with the head saved in --since, and every entry against the tree."""
    if url is not None:
        _verify_remote(url, Path(since) if since else None)
        return
    if since is not None:
        raise click.UsageError(for_console(_("--since 只能与 --url 一起使用")))
    from flask.cli import ScriptInfo

    from registry import publog

    app = ctx.ensure_object(ScriptInfo).load_app()
    with app.app_context(), _session() as session:
        count, problems = publog.verify(session)
        top = publog.head(session)
        tree = publog.tree_head(session) if not problems else None
    for problem in problems:
        click.echo(for_console(_("不一致：%(problem)s", problem=problem)), err=True)
    if problems or tree is None:
        raise SystemExit(1)
    head_hash = top.entry_hash if top is not None else publog.GENESIS_HASH
    intact = _("公示日志完好：共 %(count)s 条，最新哈希 %(hash)s", count=count, hash=head_hash)
    click.echo(for_console(intact))
    click.echo(for_console(_("默克尔树根：%(root)s", root=tree.root_hash.hex())))


def _verify_remote(url: str, since: Path | None) -> None:
    from registry import logaudit

    try:
        result = logaudit.audit(url, since)
    except logaudit.AuditFailed as exc:
        click.echo(for_console(_("不一致：%(problem)s", problem=exc)), err=True)
        raise SystemExit(1) from None
    for problem in result.problems:
        click.echo(for_console(_("不一致：%(problem)s", problem=problem)), err=True)
    if result.problems or result.head is None:
        raise SystemExit(1)
    intact = _(
        "远程公示日志完好：共 %(count)s 条，默克尔树根 %(root)s",
        count=result.head.tree_size,
        root=result.head.root_hash.hex(),
    )
    click.echo(for_console(intact))
    if since is not None:
        click.echo(for_console(_("已将树头保存到 %(path)s", path=since)))


@click.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json", "xlsx"]),
    required=True,
    help="File format.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    required=True,
    help="File to write.",
)
@click.option("--today", "on", type=click.DateTime(formats=["%Y-%m-%d"]), help="As of this date.")
@with_appcontext
def export_command(fmt: str, output: str, on) -> None:
    """Write the listings in force as open data (the import format's columns)."""
    from registry import exports, rules

    day: date = on.date() if on else rules.today()
    with _session() as session:
        counted = _Counter(exports.rows(session, day))
        if fmt == "xlsx":
            exports.write_xlsx(counted, output)
        else:
            chunks = exports.iter_csv(counted) if fmt == "csv" else exports.iter_json(counted, day)
            with open(output, "w", encoding="utf-8", newline="") as target:
                target.writelines(chunks)
    written = _(
        "%(day)s 公示中的记录 %(count)s 条已写入 %(path)s",
        count=counted.count,
        day=day.isoformat(),
        path=output,
    )
    click.echo(for_console(written))


class _Counter:
    """Counts the rows of an iterator as they stream past."""

    def __init__(self, rows) -> None:
        self.rows = rows
        self.count = 0

    def __iter__(self):
        for row in self.rows:
            self.count += 1
            yield row


MAX_SHOWN_WARNINGS = 30
# A CSV file larger than this (about 4,500 rows) is imported in a forked child: its cells
# parsed by two more, its good rows spooled to a temporary file as they are checked and
# read back to be written, its statements run by the command's own process while the
# child builds the next rows. A smaller one is read, checked and written here, in less
# time than the forks and the pipe would cost.
SPOOL_BYTES = 1_000_000


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--authority",
    "authority_code",
    help="Listing authority (code, e.g. 440000 or MIIT) for rows whose 列入单位 is empty.",
)
@click.option("--dry-run", is_flag=True, help="Check and report; write nothing.")
@click.option(
    "--publish-as",
    "publish_as",
    metavar="USERNAME",
    help="Publish each listing as this reviewer (the import itself is the submission).",
)
@click.option("--skip-bad", is_flag=True, help="Import the good rows even if some rows are bad.")
@with_appcontext
def import_command(
    file: str, authority_code: str | None, dry_run: bool, publish_as: str | None, skip_bad: bool
) -> None:
    """Import listings from a CSV (UTF-8 or GB18030) or XLSX file (format: docs/INTERFACES.md).

    Every row is checked before anything is written; bad rows are reported with their row
    number (the header is row 1), column and reason. With any bad row nothing is written,
    unless --skip-bad. Rows already in the registry are skipped, so importing the same file
    again changes nothing. The whole batch is one transaction.
    """
    import time

    from registry import forked

    started = time.perf_counter()
    checkpoint = None
    if not dry_run and Path(file).stat().st_size > SPOOL_BYTES and forked.available():
        # read, checked and written in a child: the index catch-up below then starts from
        # the app's small heap, not from what the file left
        result, checkpoint = _import_forked(file, authority_code, publish_as, skip_bad)
    else:
        with _no_cycle_collection():
            result = _import_file(file, authority_code, dry_run, publish_as, skip_bad)
    if result is None:
        return
    # The search index catches up now, so the imported firms are searchable when the
    # command returns. The file and its plan are let go first: the index may be rebuilt
    # here, with every firm in memory. The open-data files are left to the serving
    # processes' follower (downloads stream from the database until they are built):
    # writing the XLSX of every listing would take longer than the import itself.
    from registry.web.indexing import follow_now

    # a rebuild makes a document of every firm; the process ends next, cycles and all
    app = current_flask_app()
    with _no_cycle_collection(collect=False):
        # (its new firms: enough, in a large import, to build a new generation at once)
        follow_now(app, gating_only=True, warm=False, touched_firms=result.enterprises)
    walcheckpoint.wait(checkpoint)
    counts = result.as_dict()
    imported = _(
        "已导入：%(counts)s（%(seconds).1f 秒）",
        counts=", ".join(f"{key} {value}" for key, value in counts.items()),
        seconds=time.perf_counter() - started,
    )
    click.echo(for_console(imported))


@contextmanager
def _no_cycle_collection(collect: bool = True) -> Iterator[None]:
    """The cyclic garbage collector off while a file is read, checked and written: the
    import makes millions of short-lived rows and tuples, and each collection would walk
    every object the import holds (a fifth of its time). What cycles it leaves are
    collected once at the end (`collect`)."""
    import gc

    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        if collect:
            gc.collect()


def _import_forked(file: str, authority_code: str | None, publish_as: str | None, skip_bad: bool):
    """_import_file in a forked child (registry.forked). On SQLite its statements run here
    (registry.dbpipe): this process inserts a chunk's rows while the child builds the next.
    Its commit does not copy the database's log into the file: a process of its own
    (registry.walcheckpoint) does, started here, while the caller catches the index up.
    The result, and that process (None on another database) for the caller to wait for."""
    from registry import dbpipe, forked
    from registry.database import get_db

    engine = get_db(current_app).engine
    args = (file, authority_code, publish_as, skip_bad)
    if engine.dialect.name != "sqlite":
        return forked.run(_import_in_child, None, *args), None
    result = forked.run(
        _import_in_child,
        *args,
        serve=lambda channel: dbpipe.serve(engine, channel, checkpoints=False),
    )
    return result, walcheckpoint.start(engine.url.database) if result is not None else None


def _import_in_child(
    channel, file: str, authority_code: str | None, publish_as: str | None, skip_bad: bool
):
    """_import_file in the forked child: its database connections the parent's through
    `channel` (registry.dbpipe), or its own (None); its errors shown here and turned into
    its exit code."""
    from registry import dbpipe
    from registry.database import Database, get_db
    from registry.db import make_session_factory

    app = current_flask_app()
    get_db(app).engine.dispose(close=False)  # the parent's pooled ones stay its own
    if channel is not None:
        engine = dbpipe.child_engine(app.config["DATABASE_URL"], channel)
        app.extensions["registry_db"] = Database(engine, make_session_factory(engine))
    try:
        with _no_cycle_collection(collect=False):  # the child's heap ends with it
            result = _import_file(file, authority_code, False, publish_as, skip_bad)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    if channel is None:
        return result
    dbpipe.finish(channel, result)
    return None


def _import_file(
    file: str, authority_code: str | None, dry_run: bool, publish_as: str | None, skip_bad: bool
):
    """Read, check and (unless a dry run) write the file; the result, or None if dry."""
    from registry import forked
    from registry.imports import ImportFileError, open_path, validate

    try:
        parsed = open_path(file)  # a CSV's rows are read while they are checked
    except ImportFileError as exc:
        raise click.ClickException(for_console(exc.message)) from None
    with closing(parsed), _session() as session:
        publisher = _import_publisher(session, publish_as)
        authority = _import_authority(session, authority_code)
        # a large CSV's good rows are spooled to a temporary file, not held, and its cells
        # parsed in a forked process while this one checks them against the database
        spool = parsed.stream is not None and Path(file).stat().st_size > SPOOL_BYTES
        try:
            plan = validate(
                session,
                parsed,
                default_authority=authority,
                publisher=publisher,
                spool=spool,
                parse_aside=spool and forked.available(),
            )
        except ImportFileError as exc:
            raise click.ClickException(for_console(exc.message)) from None
        _report_plan(parsed, plan)
        _refuse_bad_plan(plan.errors, skip_bad)
        if dry_run:
            click.echo(for_console(_("试运行，未写入任何记录")))
            return None
        parsed.rows.clear()  # checked: the plan holds what the writing needs
        opened = _open_cli_batch(session, file, parsed, plan, authority) if plan.planned else None
        return _apply_import(session, plan, publisher, opened)


def _import_authority(session, authority_code: str | None):
    """The authority named by --authority, or None; an unknown code stops the command."""
    from registry.errors import DomainError, error_text
    from registry.services.reference import authority_by_code

    if not authority_code:
        return None
    try:
        return authority_by_code(session, authority_code)
    except DomainError as exc:
        raise click.ClickException(error_text(exc, for_console)) from None


def _import_publisher(session, publish_as: str | None) -> Actor | None:
    """The reviewer named by --publish-as, or None; anyone else stops the command."""
    from registry.models import User
    from registry.services.accounts import actor_for

    if not publish_as:
        return None
    user = session.scalar(select(User).where(User.username == publish_as))
    if user is None or not user.active:
        raise click.ClickException(
            for_console(_("未知或已停用的用户：%(user)s", user=repr(publish_as)))
        )
    if user.role != "reviewer":
        raise click.ClickException(
            for_console(_("%(user)s 不是审核员，只有审核员可以发布", user=publish_as))
        )
    return actor_for(user)


def _report_plan(parsed, plan) -> None:
    """The problems on stderr (warnings cut at MAX_SHOWN_WARNINGS), the counts on stdout."""
    errors, warnings = plan.errors, plan.warnings  # the warnings kept: the first ones
    for problem in errors:
        click.echo(for_console(problem.describe()), err=True)
    for problem in warnings[:MAX_SHOWN_WARNINGS]:
        click.echo(for_console(problem.describe()), err=True)
    if plan.warning_count > MAX_SHOWN_WARNINGS:
        more = _("…… 另有%(count)s条警告", count=plan.warning_count - MAX_SHOWN_WARNINGS)
        click.echo(for_console(more), err=True)
    summary = _(
        "%(total)s 行 · 可导入 %(new)s · 已存在 %(unchanged)s · 有错误 %(bad)s · 警告 %(warnings)s",
        total=plan.total,
        new=plan.planned,
        unchanged=len(plan.unchanged),
        bad=len(plan.bad_rows - {1}),
        warnings=plan.warning_count,
    )
    click.echo(
        f"{parsed.kind.upper()}{f' ({parsed.encoding})' if parsed.encoding else ''}: "
        + for_console(summary)
    )


def _refuse_bad_plan(errors, skip_bad: bool) -> None:
    """Stop when any row is bad, unless --skip-bad; a bad header (row 1) always stops."""
    header_bad = any(p.row == 1 for p in errors)
    if not errors or (skip_bad and not header_bad):
        return
    refused = (
        _("%(count)s 处错误，未写入任何记录", count=len(errors))
        if header_bad
        else _(
            "%(count)s 处错误，未写入任何记录（--skip-bad 导入其余正确的行）",
            count=len(errors),
        )
    )
    raise click.ClickException(for_console(refused))


def _open_cli_batch(session, file: str, parsed, plan, authority):
    """The batch record of a command-line import: of the --authority, else of the rows'
    one authority, else of the ministry; imported by the CLI's system actor."""
    import hashlib
    from pathlib import Path

    from registry.imports import import_actor
    from registry.models import MINISTRY_CODE
    from registry.services import import_batches
    from registry.services.reference import authority_by_code

    named = plan.authorities
    authority = authority or (
        next(iter(named.values())) if len(named) == 1 else authority_by_code(session, MINISTRY_CODE)
    )
    digest = parsed.sha256  # of the bytes the check read
    if digest is None:
        with open(file, "rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
    actor = import_actor(authority, "cli")
    batch = import_batches.open_batch(
        session,
        actor,
        authority,
        sha256=digest,
        size=Path(file).stat().st_size,
        filename=Path(file).name,
        source="cli",
        total_rows=plan.total,
    )
    return actor, batch


def _apply_import(session, plan, publisher: Actor | None, opened):
    """Write the plan in one transaction, with a progress bar; nothing is written on failure."""
    from registry.imports import ImportApplyError, ImportFileError, apply_plan
    from registry.services import import_batches

    actor, batch = opened or (None, None)
    try:
        with click.progressbar(
            length=plan.planned, label=for_console(_("导入")), file=sys.stderr
        ) as bar:
            result = apply_plan(
                session,
                plan,
                publisher=publisher,
                progress=bar.update,
                batch_id=batch.id if batch is not None else None,
            )
        if batch is not None and actor is not None:  # the same file again: no batch
            counts = result.as_dict() | {"bad": len(plan.bad_rows - {1})}
            problems = import_batches.report_rows(plan.problems)
            import_batches.close_batch(session, actor, batch, counts, problems, plan.problem_count)
        session.commit()
        refresh_statistics(session)  # thousands of new rows: the planner should know
    except (ImportApplyError, ImportFileError) as exc:
        session.rollback()
        refused = _("%(error)s；未写入任何记录", error=exc.message)
        raise click.ClickException(for_console(refused)) from None
    return result


COMMANDS = (
    init_command,
    serve_command,
    user_group,
    sweep_command,
    stats_command,
    verify_log_command,
    export_command,
    import_command,
    reindex_command,
)


def register_commands(group: click.Group) -> None:
    for command in COMMANDS:
        group.add_command(command)


@click.group(
    cls=FlaskGroup, create_app=_create_app, add_default_commands=False, add_version_option=False
)
def main() -> None:
    """Telecom credit registry (电信业务经营不良名单和失信名单).

    Start with `registry init --demo`, then `registry serve`.
    """


register_commands(main)


def run() -> None:
    """The `registry` program: the command, then a quick end (`_end_quickly`)."""
    try:
        main()
    finally:
        _end_quickly()
