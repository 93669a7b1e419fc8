"""Telling a database that is down from a message the database refuses.

A batch can fail for two kinds of reasons. The database may be unreachable or overloaded: the
batch is fine, so keep it and retry. Or one message in it breaks a rule of the database that
`parse` does not know (an SQLSTATE class 22 data exception, 23 integrity violation or 54 limit):
retrying the same batch fails forever and would stop the partition. For those, the consumer
bisects the batch until the message stands alone and stores it as a rejection instead.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy import exc as sa_exc

from services.core.events import Rejection, RejectReason
from services.ingest.plan import Item
from services.ingest.store import Span, TopicPartition

_DATA_CLASSES = ("22", "23", "54")


def refused_data(error: BaseException) -> bool:
    """True when `error` is about the data itself, so retrying the same rows cannot help."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [error]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, sa_exc.DataError | sa_exc.IntegrityError):
            return True
        if isinstance(e, sqlite3.DataError | sqlite3.IntegrityError):
            return True
        code = getattr(e, "sqlstate", None) or getattr(e, "pgcode", None)
        if isinstance(code, str) and code[:2] in _DATA_CLASSES:
            return True
        todo += [getattr(e, "orig", None), e.__cause__, e.__context__]
    return False


def spans_of(items: list[Item]) -> dict[TopicPartition, Span]:
    """The offsets a run of items covers in each partition (items keep partition order)."""
    spans: dict[TopicPartition, Span] = {}
    for item in items:
        tp = (item.message.topic, item.message.partition)
        offset = item.message.offset
        span = spans.get(tp)
        spans[tp] = Span(offset, offset) if span is None else Span(span.first, offset)
    return spans


def as_rejection(item: Item, error: BaseException, *, keep_headers: bool = True) -> Item:
    """The item turned into a `schema` rejection that says what the database refused."""
    kind = type(getattr(error, "orig", None) or error).__name__
    text = str(getattr(error, "orig", None) or error).splitlines()[0][:300].replace("\x00", "")
    detail = f"refused by the database ({kind}): {text}"
    message = item.message
    if not keep_headers:
        message = type(message)(message.value, (), message.topic, message.partition, message.offset)
    return Item(message, Rejection(RejectReason.schema, detail), item.key)
