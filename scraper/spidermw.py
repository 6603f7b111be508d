"""Spider middlewares: the project's own code around the spider's callbacks and start requests.

Flow position: beside the spider, wherever its code runs. ``process_spider_input``,
``process_spider_output`` and ``process_spider_exception`` run in the process that runs the
callback (a parse worker, or the main process for inline callbacks), around it, on the
callback's output as it is produced: they see the response and the callback's objects, which
are there and nowhere else, and a chain in the worker costs no extra trip across the process
boundary. Each worker builds its own chain once, after its spider (``parse._init_worker``), so
state a middleware keeps is per worker, as a spider's is. ``process_start`` and
``process_start_requests`` run in the main process, where the start requests are made
(``engine.Crawl._seed``).

Order, as Scrapy's: ``process_spider_input`` lowest number first; ``process_spider_output``,
``process_spider_exception``, ``process_start`` and ``process_start_requests`` highest first
(the one nearest the spider sees its output first). An exception from the callback (or from a
middleware's output) goes to the ``process_spider_exception`` of the middlewares after the
one that raised; the first to return an iterable recovers, and that output goes on through the
``process_spider_output`` of the middlewares after it. An exception of
``process_spider_input`` is handled the same way as the callback's (Scrapy first calls the
request's errback; here errbacks are for download failures only).

``process_spider_output`` may be a generator or an async generator (Scrapy 2.13+ asks for the
async form, or both); it gets the whole output of the level before it, collected (one page's
output is small, and the two forms then chain alike), so a middleware sees a callback's items
after the callback ended, not as each is yielded. ``async def process_start(self, start)``
(Scrapy 2.13's form) and the older ``process_start_requests(start_requests, spider)`` (which
Scrapy has since dropped) both work; with either, the start requests are collected before the
crawl starts (without one they are streamed in).
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from typing import TYPE_CHECKING, Any

from .components import build_components, component_path
from .downloadermw import keyword_call
from .settings import Settings

if TYPE_CHECKING:
    import asyncio


class SpiderMiddlewares:
    """The chain built from ``SPIDER_MIDDLEWARES`` (in the main process and in each worker)."""

    def __init__(self, middlewares: list[Any], spider: Any) -> None:
        self._spider = spider
        self._inputs = [
            m.process_spider_input for m in middlewares if _has(m, "process_spider_input")
        ]
        # Highest order first: index 0 is the middleware nearest the spider.
        self._chain = list(reversed(middlewares))
        self._starts = [
            m for m in self._chain if _has(m, "process_start", "process_start_requests")
        ]

    @classmethod
    def from_settings(cls, settings: Any, spider: Any) -> SpiderMiddlewares | None:
        """The chain, or None when no middleware is enabled (callbacks run bare)."""
        if not settings.SPIDER_MIDDLEWARES:
            return None
        middlewares = build_components(
            settings.SPIDER_MIDDLEWARES,
            "SPIDER_MIDDLEWARES",
            settings,
            getattr(spider, "crawler", None),
        )
        return cls(middlewares, spider) if middlewares else None

    # -- callbacks ---------------------------------------------------------------------------
    def run(
        self, response: Any, callback: Callable[[], Iterable[Any]]
    ) -> tuple[list[Any], Exception | None]:
        """``callback()``'s output through the chain, and the exception no
        ``process_spider_exception`` recovered from (the output made before it is kept)."""

        def called() -> Iterable[Any]:
            for method in self._inputs:
                keyword_call(method, self._spider, response=response)
            return callback()

        return self._outputs(response, called, 0)

    def _outputs(
        self, response: Any, made: Callable[[], Any], level: int
    ) -> tuple[list[Any], Exception | None]:
        """What ``made()`` gives at ``level`` (0: the callback; n: the n-th middleware from the
        spider) through the ``process_spider_output`` of the middlewares from ``level`` on.

        Each level's output is collected whole before the next level gets it (a page's output
        is small, and the async and sync forms then chain alike); an exception while collecting
        goes to the ``process_spider_exception`` of the middlewares after the one raising."""
        items, error = _collect(made)
        recovered: list[Any] = []
        if error is not None:
            recovered, error = self._recover(response, error, level)
        for index in range(level, len(self._chain)):
            method = getattr(self._chain[index], "process_spider_output", None)
            if method is None:
                continue
            result = _aiter(items) if inspect.isasyncgenfunction(method) else iter(items)
            items, raised = _collect(
                lambda m=method, r=result: keyword_call(
                    m, self._spider, response=response, result=r
                )
            )
            if raised is not None:
                more, raised = self._recover(response, raised, index + 1)
                recovered += more
                error = error or raised
        return items + recovered, error

    def _recover(
        self, response: Any, error: Exception, level: int
    ) -> tuple[list[Any], Exception | None]:
        for index in range(level, len(self._chain)):
            method = getattr(self._chain[index], "process_spider_exception", None)
            if method is None:
                continue
            try:
                answer = keyword_call(method, self._spider, response=response, exception=error)
            except Exception as raised:  # the handler's own error replaces the one it had
                return [], raised
            if answer is not None:
                return self._outputs(response, lambda a=answer: a, index + 1)
        return [], error

    # -- start requests ------------------------------------------------------------------------
    @property
    def changes_start(self) -> bool:
        return bool(self._starts)

    def start(self, requests: Iterable[Any]) -> list[Any]:
        """The spider's start requests through ``process_start`` / ``process_start_requests``,
        highest order first."""
        made = list(requests)
        for middleware in self._starts:
            if hasattr(middleware, "process_start"):
                made, error = _collect(lambda m=middleware, r=made: m.process_start(_aiter(r)))
                if error is not None:
                    raise error
            else:
                # Scrapy before 2.13 called it with positional arguments.
                made = list(middleware.process_start_requests(made, self._spider))
        return made


def worker_settings(settings: Settings) -> dict[str, int | None]:
    """``SPIDER_MIDDLEWARES`` as a parse worker receives it: dotted paths, since a class of
    the spider's own file cannot be unpickled before the worker imports that file."""
    return {component_path(ref): order for ref, order in settings.SPIDER_MIDDLEWARES.items()}


def _has(middleware: Any, *names: str) -> bool:
    return any(callable(getattr(middleware, name, None)) for name in names)


async def _aiter(items: list[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item


_loops = threading.local()


def _event_loop() -> asyncio.AbstractEventLoop:
    """This thread's loop for async middlewares, made once: a new loop per page would cost
    more than most middlewares (about 0.1 ms)."""
    loop = getattr(_loops, "loop", None)
    if loop is None:
        import asyncio  # here: only an async middleware needs it (see spider.iterate_start)

        loop = _loops.loop = asyncio.new_event_loop()
    return loop


def _collect(made: Callable[[], Any]) -> tuple[list[Any], Exception | None]:
    """Everything ``made()`` yields (an iterable, or an async one run to its end), and the
    exception that ended it early, if one did."""
    items: list[Any] = []
    try:
        output = made()
        if isinstance(output, AsyncIterable):

            async def drain() -> None:
                async for obj in output:
                    items.append(obj)

            _event_loop().run_until_complete(drain())
        elif output is not None:
            items.extend(output)
    except Exception as exc:
        return items, exc
    return items, None
