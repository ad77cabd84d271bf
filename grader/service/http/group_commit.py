"""Submissions that arrive together are committed in one transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from fastapi.concurrency import run_in_threadpool

from ..db import Accepted, NewJob
from ..runtime import ServiceRuntime


class GroupCommit:
    """While a batch is being committed (in a worker thread, so the event loop goes on
    reading requests), new ones gather; the next batch takes them all. A burst of N
    requests thus costs a few transactions and thread hops, not N, and each request
    still answers only once its own job is committed: a 202 means the job is in the
    database.
    """

    def __init__(self, runtime: ServiceRuntime, max_batch: int = 64) -> None:
        self.runtime, self.max_batch = runtime, max_batch
        self._pending: list[tuple[NewJob, asyncio.Future[Accepted]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def accept(self, new: NewJob) -> Accepted:
        future: asyncio.Future[Accepted] = asyncio.get_running_loop().create_future()
        self._pending.append((new, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        batch: list[tuple[NewJob, asyncio.Future[Accepted]]] = []
        try:
            while self._pending:
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
                results: Sequence[Accepted | Exception]
                try:
                    results = await run_in_threadpool(
                        self.runtime.accept_many, [new for new, _ in batch]
                    )
                except Exception as exc:  # the database failed: every request of the batch
                    results = [exc] * len(batch)
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():  # the client went away; its job stands
                        continue
                    if isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
                batch = []
        finally:
            for _, future in batch + self._pending:  # cancelled (shutdown) mid-batch
                future.cancel()
            self._pending.clear()
            self._flusher = None
