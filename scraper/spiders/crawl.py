"""``CrawlSpider``: a spider driven by ``rules``, each a ``LinkExtractor`` with what to do with
the pages it finds (a callback, follow further or not), as Scrapy's.

Flow position: callbacks in the parse workers. Rules are compiled in every process the same
way, so a request carries only its rule's index (``meta["rule"]``) across the boundary.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from ..linkextractors import Link, LinkExtractor
from ..models import Request, Response
from ..spider import Spider, iterate_callback_output


def _identity(value: Any, *args: Any) -> Any:
    return value


class Rule:
    def __init__(
        self,
        link_extractor: LinkExtractor | None = None,
        callback: Callable[..., Any] | str | None = None,
        cb_kwargs: dict[str, Any] | None = None,
        follow: bool | None = None,
        process_links: Callable[..., Any] | str | None = None,
        process_request: Callable[..., Any] | str | None = None,
        errback: Callable[..., Any] | str | None = None,
    ) -> None:
        self.link_extractor = link_extractor or LinkExtractor()
        self.callback = callback
        self.errback = errback
        self.cb_kwargs = dict(cb_kwargs or {})
        self.process_links = process_links or _identity
        self.process_request = process_request or _identity
        self.follow = follow if follow is not None else callback is None

    def _compile(self, spider: Spider) -> None:
        def resolve(method: Any) -> Any:
            return getattr(spider, method) if isinstance(method, str) else method

        self.callback = resolve(self.callback)
        self.errback = resolve(self.errback)
        self.process_links = resolve(self.process_links)
        self.process_request = resolve(self.process_request)


def is_html(response: Response) -> bool:
    """Whether Scrapy would make this an HtmlResponse (the only kind whose links it follows)."""
    content_type = response.headers.get("content-type", "").lower()
    if content_type:
        return "html" in content_type
    return b"<html" in response.body[:1024].lower()


class CrawlSpider(Spider):
    rules: Sequence[Rule] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._compile_rules()

    def _compile_rules(self) -> None:
        import copy

        self._rules = [copy.copy(rule) for rule in self.rules]
        for rule in self._rules:
            rule._compile(self)

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        return self._parse_response(response, self.parse_start_url, kwargs, True)

    def parse_start_url(self, response: Response, **kwargs: Any) -> Iterable[Any]:
        return []

    def process_results(self, response: Response, results: Iterable[Any]) -> Iterable[Any]:
        return results

    def _callback(self, response: Response, **cb_kwargs: Any) -> Iterator[Any]:
        rule = self._rules[response.meta["rule"]]
        return self._parse_response(
            response, rule.callback, {**rule.cb_kwargs, **cb_kwargs}, rule.follow
        )

    def _parse_response(
        self,
        response: Response,
        callback: Callable[..., Any] | None,
        cb_kwargs: dict[str, Any],
        follow: bool,
    ) -> Iterator[Any]:
        if callback is not None:
            results = iterate_callback_output(callback(response, **cb_kwargs))
            yield from iterate_callback_output(self.process_results(response, results))
        if follow:
            yield from self._requests_to_follow(response)

    def _requests_to_follow(self, response: Response) -> Iterator[Request]:
        if not is_html(response):
            return
        seen: set[Link] = set()
        for index, rule in enumerate(self._rules):
            links = [
                link for link in rule.link_extractor.extract_links(response) if link not in seen
            ]
            for link in rule.process_links(links):
                seen.add(link)
                request = Request(
                    link.url,
                    callback=self._callback,
                    errback=self._errback if rule.errback else None,
                    meta={"rule": index, "link_text": link.text},
                )
                processed = rule.process_request(request, response)
                if processed is not None:
                    yield processed

    def _errback(self, failure: Any) -> Iterable[Any]:
        rule = self._rules[failure.request.meta["rule"]]
        return iterate_callback_output(rule.errback(failure))
