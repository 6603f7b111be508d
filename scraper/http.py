"""Scrapy's request flavours at Scrapy's import path: ``FormRequest`` (with ``from_response``
for login and search forms) and ``JsonRequest``; ``Request``/``Response`` re-exported.

Flow position: built in callbacks or ``start_requests``; they travel as plain Requests (their
body and headers are computed here, once), so nothing downstream knows their kind.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from .models import Headers, Request, Response

FormData = Mapping[str, Any] | Iterable[tuple[str, Any]]

# Form controls whose value is sent; submit buttons are added only as the clicked one, and
# checkboxes and radio buttons only when checked.
_INPUTS = (
    "descendant::textarea|descendant::select|descendant::input[not(@type) or "
    "@type[not(re:test(., '^(?:submit|image|reset)$', 'i')) and "
    "(../@checked or not(re:test(., '^(?:checkbox|radio)$', 'i')))]]"
)
_CLICKABLES = (
    "descendant::input[re:test(@type, '^(submit|image)$', 'i')]|"
    "descendant::button[not(@type) or re:test(@type, '^submit$', 'i')]"
)


def _pairs(data: FormData) -> list[tuple[str, Any]]:
    return list(data.items()) if isinstance(data, Mapping) else list(data)


def _encode_form(pairs: Iterable[tuple[str, Any]], encoding: str) -> str:
    def text(value: Any) -> Any:
        if isinstance(value, list | tuple):
            return [text(v) for v in value]
        return value.encode(encoding) if isinstance(value, str) else value

    return urlencode([(k.encode(encoding), text(v)) for k, v in pairs], doseq=True)


class FormRequest(Request):
    """A form submission: ``formdata`` goes in the body (POST, the default with data) or in
    the query string (GET)."""

    __slots__ = ()

    def __init__(
        self,
        url: str,
        *args: Any,
        formdata: FormData | None = None,
        encoding: str = "utf-8",
        **kwargs: Any,
    ) -> None:
        if formdata and kwargs.get("method") is None:
            kwargs["method"] = "POST"
        super().__init__(url, *args, **kwargs)
        if not formdata:
            return
        query = _encode_form(_pairs(formdata), encoding)
        if self.method == "POST":
            self.headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
            self.body = query.encode("ascii")
        else:
            self.url = urlunsplit(urlsplit(self.url)._replace(query=query))

    @classmethod
    def from_response(
        cls,
        response: Response,
        formname: str | None = None,
        formid: str | None = None,
        formnumber: int = 0,
        formdata: FormData | None = None,
        clickdata: Mapping[str, Any] | None = None,
        dont_click: bool = False,
        formxpath: str | None = None,
        formcss: str | None = None,
        **kwargs: Any,
    ) -> FormRequest:
        """The request a browser sends when the form of ``response`` is submitted, with
        ``formdata`` filled in (a value of None removes the field)."""
        form = _find_form(response, formname, formid, formnumber, formxpath, formcss)
        given = _pairs(formdata or ())
        given_keys = {k for k, _ in given}
        values = [
            (name, value)
            for name, value in _control_values(form)
            if name and name not in given_keys
        ]
        if not dont_click:
            clicked = _clicked(form, clickdata)
            if clicked is not None and clicked[0] and clicked[0] not in given_keys:
                values.append(clicked)
        values += [(k, v) for k, v in given if v is not None]
        action = form.attrib.get("action", "").strip()
        url = response.urljoin(action) if action else response.url
        method = (kwargs.pop("method", None) or form.attrib.get("method") or "GET").upper()
        if method not in ("GET", "POST"):
            method = "GET"
        kwargs.setdefault("encoding", response.encoding)
        return cls(url, method=method, formdata=values, **kwargs)


def _find_form(
    response: Response,
    formname: str | None,
    formid: str | None,
    formnumber: int,
    formxpath: str | None,
    formcss: str | None,
) -> Any:
    forms = response.xpath("//form")
    if not forms:
        raise ValueError(f"no <form> element found in {response}")
    if formname is not None and (found := response.xpath(f"//form[@name={formname!r}]")):
        return found[0]
    if formid is not None and (found := response.xpath(f"//form[@id={formid!r}]")):
        return found[0]
    if formcss is not None:
        from cssselect import HTMLTranslator

        formxpath = HTMLTranslator().css_to_xpath(formcss)
    if formxpath is not None:
        for node in response.xpath(formxpath):
            form = node.xpath("ancestor-or-self::form")
            if form:
                return form[-1]
        raise ValueError(f"no <form> element found with {formxpath}")
    if formnumber >= len(forms):
        raise IndexError(f"form number {formnumber} not found in {response}")
    return forms[formnumber]


def _control_values(form: Any) -> list[tuple[str | None, Any]]:
    values: list[tuple[str | None, Any]] = []
    for control in form.xpath(_INPUTS):
        name = control.attrib.get("name")
        tag = control.root.tag
        if tag == "select":
            values.append((name, _select_value(control)))
        elif tag == "textarea":
            values.append((name, "".join(control.xpath(".//text()").getall())))
        else:
            values.append((name, control.attrib.get("value", "")))
    return values


def _select_value(select: Any) -> Any:
    chosen = select.xpath("option[@selected]") or select.xpath("option")[:1]
    if "multiple" in select.attrib:
        return [_option_value(o) for o in select.xpath("option[@selected]")]
    return _option_value(chosen[0]) if chosen else ""


def _option_value(option: Any) -> str:
    value = option.attrib.get("value")
    return value if value is not None else " ".join(option.xpath("text()").get("").split())


def _clicked(form: Any, clickdata: Mapping[str, Any] | None) -> tuple[str, str] | None:
    buttons = form.xpath(_CLICKABLES)
    if not buttons:
        return None
    if clickdata is None:
        chosen = buttons[0]
    elif "nr" in clickdata:
        chosen = buttons[int(clickdata["nr"])]
    else:
        wanted = {k: str(v) for k, v in clickdata.items()}
        matches = [b for b in buttons if all(b.attrib.get(k) == v for k, v in wanted.items())]
        if len(matches) != 1:
            raise ValueError(f"no single clickable element matching clickdata {clickdata!r}")
        chosen = matches[0]
    return chosen.attrib.get("name"), chosen.attrib.get("value", "")


class JsonRequest(Request):
    """A request whose body is ``data`` as JSON (POST by default when there is data)."""

    __slots__ = ()

    def __init__(
        self,
        url: str,
        *args: Any,
        data: Any = None,
        dumps_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if data is not None and not kwargs.get("body"):
            kwargs["body"] = json.dumps(data, **{"sort_keys": True, **(dumps_kwargs or {})})
            kwargs.setdefault("method", "POST")
        super().__init__(url, *args, **kwargs)
        self.headers.setdefault("Content-Type", "application/json")
        self.headers.setdefault("Accept", "application/json, text/javascript, */*; q=0.01")


# Scrapy's response classes are one class here: the body's type decides the selector.
HtmlResponse = XmlResponse = TextResponse = Response

__all__ = [
    "FormRequest",
    "Headers",
    "HtmlResponse",
    "JsonRequest",
    "Request",
    "Response",
    "TextResponse",
    "XmlResponse",
]
