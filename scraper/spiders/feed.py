"""``XMLFeedSpider`` and ``CSVFeedSpider``: one callback per XML node or CSV row, as Scrapy's.

Flow position: callbacks in the parse workers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from ..models import Response
from ..selector import Selector
from ..spider import Spider, iterate_callback_output


class XMLFeedSpider(Spider):
    iterator = "iternodes"
    itertag = "item"
    namespaces: Sequence[tuple[str, str]] = ()

    def process_results(self, response: Response, results: Iterable[Any]) -> Iterable[Any]:
        return results

    def adapt_response(self, response: Response) -> Response:
        return response

    def parse_node(self, response: Response, selector: Selector) -> Any:
        raise NotImplementedError("XMLFeedSpider subclasses must define parse_node")

    def parse_nodes(self, response: Response, nodes: Iterable[Selector]) -> Iterator[Any]:
        for node in nodes:
            results = iterate_callback_output(self.parse_node(response, node))
            yield from iterate_callback_output(self.process_results(response, results))

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        response = self.adapt_response(response)
        markup = "html" if self.iterator == "html" else "xml"
        selector = Selector(text=response.text, type=markup, base_url=response.url)
        for prefix, uri in self.namespaces:
            selector.register_namespace(prefix, uri)
        if self.iterator == "iternodes" and ":" not in self.itertag:
            # Any namespace: what the tag is called is what counts, as Scrapy's iternodes.
            nodes = selector.xpath(f"//*[local-name()='{self.itertag}']")
        else:
            nodes = selector.xpath(f"//{self.itertag}")
        return self.parse_nodes(response, nodes)


class CSVFeedSpider(Spider):
    delimiter: str | None = None
    quotechar: str | None = None
    headers: Sequence[str] | None = None

    def process_results(self, response: Response, results: Iterable[Any]) -> Iterable[Any]:
        return results

    def adapt_response(self, response: Response) -> Response:
        return response

    def parse_row(self, response: Response, row: dict[str, str]) -> Any:
        raise NotImplementedError("CSVFeedSpider subclasses must define parse_row")

    def parse_rows(self, response: Response) -> Iterator[Any]:
        for row in csv_rows(response, self.delimiter, self.headers, self.quotechar):
            results = iterate_callback_output(self.parse_row(response, row))
            yield from iterate_callback_output(self.process_results(response, results))

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        return self.parse_rows(self.adapt_response(response))


def csv_rows(
    response: Response,
    delimiter: str | None = None,
    headers: Sequence[str] | None = None,
    quotechar: str | None = None,
) -> Iterator[dict[str, str]]:
    """Rows as dicts keyed by the headers (the first row unless given); a row whose length
    differs from the headers' is skipped, as Scrapy's ``csviter``."""
    options: dict[str, str] = {}
    if delimiter:
        options["delimiter"] = delimiter
    if quotechar:
        options["quotechar"] = quotechar
    reader = csv.reader(io.StringIO(response.text), **options)  # type: ignore[arg-type]
    if headers is None:
        try:
            headers = [name.strip() for name in next(reader)]
        except StopIteration:
            return
    for row in reader:
        if len(row) == len(headers):
            yield dict(zip(headers, row, strict=True))
