"""Small ORM helpers."""

from collections.abc import Mapping, Sequence

from django.db import connection, models


def preloaded(instance: models.Model, path: str):
    """What `instance` already holds at `path` (e.g. "business.routing_settings"), each step loaded before with
    select_related or set by hand, without a query: the related row, or None where a one-to-one has no row.
    Returns ... (Ellipsis) when some step was not loaded, so the caller reads it its own way. Hot paths use it to
    reuse settings that came with a cached business instead of asking again."""
    for name in path.split("."):
        descriptor = getattr(type(instance), name)
        if not descriptor.is_cached(instance):
            return ...
        holder = descriptor.related if hasattr(descriptor, "related") else descriptor.field
        instance = holder.get_cached_value(instance)
        if instance is None:
            return None
    return instance


# Built once per (model, conflict target, predicate, updates, extras): the statement, and the second look at the
# extras for `reread`. Their text never changes.
_UPSERT_SQL: dict[tuple, tuple[str, str]] = {}


def upsert(
    obj: models.Model,
    *,
    conflict: Sequence[str],
    where: str = "",
    update: Sequence[str] = (),
    extra: Mapping[str, str] | None = None,
    params: Sequence = (),
    reread: bool = False,
) -> tuple[models.Model, bool]:
    """Insert `obj`'s row or, when the unique key `conflict` (a partial unique index: its predicate in `where`)
    already has one, take that row: one statement (INSERT ... ON CONFLICT DO UPDATE ... RETURNING), which also
    row-locks it until the transaction ends, so concurrent callers never create two and the second waits for the
    first to commit. On conflict, the `update` fields take `obj`'s values; with none, the stored row is returned
    unchanged. `extra` adds read-only values computed in the same statement against the returned row (SQL with
    the alias `upserted`, its `%s` values in `params`), set as attributes. Returns (the row as stored, created).

    The extras see the statement's snapshot, taken before it waited for another transaction's lock on an existing
    row: they miss what that transaction committed. `reread` True asks them again, for an existing row, in a
    second statement (a fresh snapshot, the lock already held); a created row needs no second look, as nobody
    else held it.

    Hand-written SQL for the hottest paths (each call costs one round trip and no ORM statement building); the
    unique constraint it names must exist, or PostgreSQL refuses the statement."""
    model = type(obj)
    meta = model._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    extra = extra or {}
    key = (model, tuple(conflict), where, tuple(update), tuple(extra.items()))
    if key not in _UPSERT_SQL:
        _UPSERT_SQL[key] = _upsert_statements(meta, fields, conflict, where, update, extra)
    sql, reread_sql = _UPSERT_SQL[key]
    values = [f.get_db_prep_save(f.pre_save(obj, add=True), connection) for f in fields]
    [row] = model.objects.raw(sql, [*values, *params])
    created = row.__dict__.pop("upsert_created")
    if extra and reread and not created:
        with connection.cursor() as cursor:
            cursor.execute(reread_sql, [*params, row.pk])
            for name, value in zip(extra, cursor.fetchone(), strict=True):
                setattr(row, name, value)
    return row, created


def _upsert_statements(meta, fields, conflict, where, update, extra) -> tuple[str, str]:
    """The upsert and the extras' second look, from model meta and our own code (every value is bound)."""
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    column = {f.name: quote(f.column) for f in fields}
    setting = [f"{column[name]} = EXCLUDED.{column[name]}" for name in (update or conflict[:1])]
    predicate = f" WHERE {where}" if where else ""
    asked = [f"{expression} AS {quote(name)}" for name, expression in extra.items()]
    upsert_sql = (
        f"WITH upserted AS (INSERT INTO {table} ({', '.join(column.values())}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(fields))}) "
        f"ON CONFLICT ({', '.join(column[name] for name in conflict)}){predicate} "
        f"DO UPDATE SET {', '.join(setting)} RETURNING *, (xmax = 0) AS upsert_created) "
        f"SELECT {', '.join(['upserted.*', *asked])} FROM upserted"
    )
    reread_sql = f"SELECT {', '.join(asked)} FROM {table} upserted WHERE upserted.{quote(meta.pk.column)} = %s"  # noqa: S608
    return upsert_sql, reread_sql
