"""``sentient-graph memory``: look into and add to the long-term memory store.

Owns the ``memory_app`` typer app (``put``, ``get``, ``delete``, ``search``,
``list``), how a namespace is written on the command line (labels joined by
``.``, e.g. ``agents.researcher.long_term``: a label cannot contain a dot),
and the output (one line per item, or JSON lines with ``--json``). Each
command opens the store (``SURREALDB_URL``, default the embedded
``surrealkv://.sentient/store``, one process at a time), does its work and
closes it.

Must not: know SurrealQL or the store's tables; it talks to
:class:`~sentient_graph.store.SurrealStore` only.

Exit codes: the CLI's table (:mod:`sentient_graph.cli.exits`): 0 done, 2 bad input
or an item that is not there (``get``), 3 store unavailable.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn

import typer

from sentient_graph.cli.exits import EXIT_STORE, EXIT_USAGE
from sentient_graph.errors import ConfigError, SentientError, StoreUnavailable
from sentient_graph.shell import command

__all__ = ["memory_app"]

#: An item that is not there is an unknown name, as an unknown thread is (the CLI's table).
EXIT_NOT_FOUND = EXIT_USAGE

memory_app = typer.Typer(
    name="memory",
    help="Long-term memory: items in namespaces, searched by filter and by meaning.",
    no_args_is_help=True,
    add_completion=False,
)

NamespaceArg = Annotated[
    str,
    typer.Argument(
        help="Namespace: labels joined by '.', e.g. agents.researcher.long_term",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON object per line.")]


def _fail(message: str, code: int) -> NoReturn:
    sys.stderr.write(f"error: {message}\n")
    raise typer.Exit(code)


def _namespace(text: str, *, allow_empty: bool = False) -> tuple[str, ...]:
    labels = tuple(part for part in text.split(".") if part) if text else ()
    if not labels and not allow_empty:
        _fail("give a namespace, e.g. agents.researcher.long_term", EXIT_USAGE)
    return labels


def _json(text: str | None, what: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        _fail(f'{what} is not valid JSON: {exc} (example: \'{{"text": "..."}}\')', EXIT_USAGE)


def _connection_options(ctx: typer.Context) -> dict[str, Any]:
    """Namespace and database from the root command's options, when it has them."""
    root = ctx.find_root().obj
    return {
        "url": getattr(root, "surreal_url", None) or os.environ.get("SURREALDB_URL"),
        "namespace": getattr(root, "namespace", None),
        "database": getattr(root, "database", None),
    }


@contextmanager
def _store(ctx: typer.Context) -> Iterator[Any]:
    """The store for one command, with the offline default embedding; errors as one line."""
    from sentient_graph.cli.runtime import check_surreal_url
    from sentient_graph.store import SurrealStore, default_index

    root = ctx.find_root().obj
    try:
        check_surreal_url(
            getattr(root, "surreal_url", None) or os.environ.get("SURREALDB_URL"),
            getattr(root, "surreal_url_from", None) or "SURREALDB_URL",
        )
    except ConfigError as exc:
        _fail(str(exc), EXIT_USAGE)
    try:
        with SurrealStore.from_conn_string(
            index=default_index(), **_connection_options(ctx)
        ) as store:
            store.setup()
            yield store
    except StoreUnavailable as exc:
        _fail(str(exc), EXIT_STORE)
    except (SentientError, ValueError) as exc:
        _fail(str(exc), EXIT_USAGE)


def _show(items: list[Any], as_json: bool, line: Callable[[Any], str]) -> None:
    for item in items:
        typer.echo(json.dumps(item.dict(), default=str) if as_json else line(item))


def _describe(item: Any) -> str:
    score = getattr(item, "score", None)
    head = f"{score:.3f}  " if score is not None else ""
    return f"{head}{'.'.join(item.namespace)}  {item.key}  {json.dumps(item.value, default=str)}"


@memory_app.command("put")
def put(
    ctx: typer.Context,
    namespace: NamespaceArg,
    key: Annotated[
        str, typer.Argument(help="The item's key in its namespace.", show_default=False)
    ],
    value: Annotated[
        str, typer.Argument(help='The item as a JSON object, e.g. \'{"text": "..."}\'.')
    ],
    ttl: Annotated[
        float | None,
        typer.Option(
            "--ttl", help="Minutes until it expires (default: never).", show_default=False
        ),
    ] = None,
    no_index: Annotated[
        bool, typer.Option("--no-index", help="Store it without a vector (not found by meaning).")
    ] = False,
) -> None:
    """Store (or overwrite) one item."""
    data = _json(value, "VALUE")
    if not isinstance(data, dict):
        _fail('VALUE must be a JSON object, e.g. \'{"text": "..."}\'', EXIT_USAGE)
    with _store(ctx) as store:
        store.put(_namespace(namespace), key, data, index=False if no_index else None, ttl=ttl)
    typer.echo(f"stored {namespace} {key}")


@memory_app.command("get")
def get(
    ctx: typer.Context,
    namespace: NamespaceArg,
    key: Annotated[str, typer.Argument(help="The item's key.", show_default=False)],
    as_json: JsonOpt = False,
) -> None:
    """Show one item (exit 1 when there is none)."""
    with _store(ctx) as store:
        item = store.get(_namespace(namespace), key)
    if item is None:
        _fail(
            f"no item {key!r} in {namespace} (see: {command('memory search', namespace)})",
            EXIT_NOT_FOUND,
        )
    _show([item], as_json, _describe)


@memory_app.command("delete")
def delete(
    ctx: typer.Context,
    namespace: NamespaceArg,
    key: Annotated[str, typer.Argument(help="The item's key.", show_default=False)],
) -> None:
    """Delete one item (nothing happens when there is none)."""
    with _store(ctx) as store:
        store.delete(_namespace(namespace), key)
    typer.echo(f"deleted {namespace} {key}")


@memory_app.command("search")
def search(
    ctx: typer.Context,
    prefix: Annotated[
        str, typer.Argument(help="Namespace prefix (default: everything).", show_default=False)
    ] = "",
    query: Annotated[
        str | None,
        typer.Option(
            "--query", "-q", help="Rank by meaning (most similar first).", show_default=False
        ),
    ] = None,
    filter: Annotated[
        str | None,
        typer.Option(
            "--filter",
            "-f",
            help='JSON filter on the value, e.g. \'{"n": {"$gte": 2}}\' ($eq $ne $gt $gte $lt $lte $in $nin).',
            show_default=False,
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="At most this many.")] = 10,
    offset: Annotated[int, typer.Option("--offset", help="Skip this many first.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Find items under a namespace prefix, by filter and/or by meaning."""
    conditions = _json(filter, "--filter")
    if conditions is not None and not isinstance(conditions, dict):
        _fail('--filter must be a JSON object, e.g. \'{"kind": "finding"}\'', EXIT_USAGE)
    with _store(ctx) as store:
        items = store.search(
            _namespace(prefix, allow_empty=True),
            query=query,
            filter=conditions,
            limit=limit,
            offset=offset,
        )
    _show(items, as_json, _describe)


@memory_app.command("list")
def list_(
    ctx: typer.Context,
    prefix: Annotated[
        str | None,
        typer.Option("--prefix", help="Only namespaces starting so ('*' matches one label)."),
    ] = None,
    suffix: Annotated[
        str | None,
        typer.Option("--suffix", help="Only namespaces ending so ('*' matches one label)."),
    ] = None,
    max_depth: Annotated[
        int | None,
        typer.Option("--max-depth", help="Cut namespaces to this many labels.", show_default=False),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="At most this many.")] = 100,
    as_json: JsonOpt = False,
) -> None:
    """List the namespaces that hold items."""
    with _store(ctx) as store:
        found = store.list_namespaces(
            prefix=_namespace(prefix, allow_empty=True) or None if prefix else None,
            suffix=_namespace(suffix, allow_empty=True) or None if suffix else None,
            max_depth=max_depth,
            limit=limit,
        )
    for namespace in found:
        typer.echo(json.dumps(list(namespace)) if as_json else ".".join(namespace))
