from pathlib import Path
from typing import get_type_hints

import pytest

from scraper.errors import SettingsError
from scraper.settings import ConfigFile, Settings, build_settings

NUMBERS = [name for name, hint in get_type_hints(Settings).items() if hint in (int, float)]


def write_cfg(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scrapy-like.cfg"
    path.write_text(text)
    return path


def test_precedence_defaults_cfg_spider_section_custom_cli(tmp_path):
    cfg = write_cfg(
        tmp_path,
        """
[settings]
DOWNLOAD_DELAY = 1.0
RETRY_TIMES = 5
DEPTH_LIMIT = 7
USER_AGENT = from-cfg

[spider:news]
RETRY_TIMES = 6
DEPTH_LIMIT = 8
start_urls = http://a.example/
""",
    )
    config = ConfigFile.read(cfg, "news")
    settings = build_settings(
        config, {"DEPTH_LIMIT": 9, "USER_AGENT": "from-spider"}, {"USER_AGENT": "from-cli"}
    )
    assert settings.DOWNLOAD_DELAY == 1.0  # [settings]
    assert settings.RETRY_TIMES == 6  # [spider:news] beats [settings]
    assert settings.DEPTH_LIMIT == 9  # custom_settings beats the file
    assert settings.USER_AGENT == "from-cli"  # -s beats everything
    assert settings.CONCURRENT_REQUESTS == 32  # default
    assert config.spider_args == {"start_urls": "http://a.example/"}


def test_other_spiders_section_is_ignored(tmp_path):
    cfg = write_cfg(tmp_path, "[spider:other]\nRETRY_TIMES = 9\n")
    assert build_settings(ConfigFile.read(cfg, "news"), None, {}).RETRY_TIMES == 2


@pytest.mark.parametrize(
    "values, message",
    [
        ({"DOWNLOAD_DELAYS": "1"}, "unknown setting 'DOWNLOAD_DELAYS'"),
        ({"DOWNLOAD_DELAY": "soon"}, "DOWNLOAD_DELAY (from -s): expected a number, got 'soon'"),
        ({"RETRY_TIMES": "2.5"}, "RETRY_TIMES (from -s): expected an integer"),
        ({"ROBOTSTXT_OBEY": "maybe"}, "ROBOTSTXT_OBEY (from -s): expected a boolean"),
        ({"RETRY_HTTP_CODES": "500,x"}, "RETRY_HTTP_CODES (from -s): expected a list of int"),
        ({"DEFAULT_REQUEST_HEADERS": "[1]"}, "DEFAULT_REQUEST_HEADERS (from -s): expected a JSON"),
        ({"CONCURRENT_REQUESTS": "0"}, "CONCURRENT_REQUESTS must be at least 1"),
        # Containers: the type of every key and value is checked, not just the container's.
        (
            {"DEFAULT_REQUEST_HEADERS": '{"Accept": 1}'},
            "DEFAULT_REQUEST_HEADERS (from -s): expected a JSON object of str to str",
        ),
        (
            {"ITEM_PIPELINES": '{"pkg.Pipe": "high"}'},
            "ITEM_PIPELINES (from -s): expected a JSON object of str or class to int",
        ),
        ({"ITEM_PIPELINES": '{"pkg.Pipe": true}'}, "ITEM_PIPELINES (from -s): expected a JSON"),
        ({"RETRY_HTTP_CODES": "[500, true]"}, "RETRY_HTTP_CODES (from -s): expected a JSON list"),
        ({"RETRY_HTTP_CODES": "[500, 2.5]"}, "RETRY_HTTP_CODES (from -s): expected a JSON list"),
        ({"ALLOWED_DOMAINS": "[1]"}, "ALLOWED_DOMAINS (from -s): expected a JSON list of str"),
        ({"RETRY_HTTP_CODES": "500,5030"}, "RETRY_HTTP_CODES: 5030 is not an HTTP status"),
        ({"HTTPERROR_ALLOWED_CODES": "[0]"}, "HTTPERROR_ALLOWED_CODES: 0 is not an HTTP status"),
        ({"DOWNLOAD_DELAY": "nan"}, "DOWNLOAD_DELAY must be a finite number"),
        ({"DOWNLOAD_TIMEOUT": "inf"}, "DOWNLOAD_TIMEOUT must be a finite number"),
    ],
)
def test_bad_values_are_errors_naming_the_setting(values, message):
    with pytest.raises(SettingsError) as info:
        Settings().update(values, "-s")
    assert message in str(info.value)


@pytest.mark.parametrize("name", NUMBERS)
def test_every_numeric_setting_refuses_a_negative_value(name):
    """A negative limit, delay, size or timeout has no meaning: before these checks a crawl
    with DEPTH_LIMIT=-1 or URLLENGTH_LIMIT=-1 filtered everything and exited 0."""
    with pytest.raises(SettingsError, match=f"^{name} must .*, got -1(\\.0)? \\(from -s\\)$"):
        Settings().update({name: "-1"}, "-s")


@pytest.mark.parametrize(
    "name, zero_allowed",
    [
        # 0 means "off" or "no limit" (as each description says) ...
        ("DEPTH_LIMIT", True),
        ("URLLENGTH_LIMIT", True),
        ("PARSE_TIMEOUT", True),
        ("PARSE_WORKERS", True),
        ("CLOSESPIDER_ITEMCOUNT", True),
        ("DOWNLOAD_DELAY", True),
        ("RETRY_TIMES", True),
        # ... or nothing could ever happen.
        ("CONCURRENT_REQUESTS", False),
        ("DOWNLOAD_TIMEOUT", False),
        ("DOWNLOAD_MAXSIZE", False),
        ("RESPONSE_QUEUE_SIZE", False),
        ("AUTOTHROTTLE_TARGET_CONCURRENCY", False),
    ],
)
def test_zero_is_accepted_only_where_it_means_off_or_no_limit(name, zero_allowed):
    settings = Settings()
    if zero_allowed:
        settings.update({name: "0"}, "-s")
        assert getattr(settings, name) == 0
    else:
        with pytest.raises(SettingsError, match=f"^{name} must be (at least 1|positive), got 0"):
            settings.update({name: "0"}, "-s")


def test_python_values_from_custom_settings_are_type_checked():
    settings = Settings()
    settings.update({"DOWNLOAD_DELAY": 2, "RETRY_HTTP_CODES": [500]}, "spider")
    assert settings.DOWNLOAD_DELAY == 2.0 and settings.RETRY_HTTP_CODES == [500]
    with pytest.raises(SettingsError, match="RETRY_TIMES .*expected an integer"):
        settings.update({"RETRY_TIMES": "3 times"}, "spider")
    with pytest.raises(SettingsError, match="ROBOTSTXT_OBEY .*expected a boolean"):
        settings.update({"ROBOTSTXT_OBEY": 1}, "spider")
    with pytest.raises(SettingsError, match="DEFAULT_REQUEST_HEADERS .*expected a mapping"):
        settings.update({"DEFAULT_REQUEST_HEADERS": {b"Accept": "x"}}, "spider")
    with pytest.raises(SettingsError, match="ITEM_PIPELINES .*expected a mapping"):
        settings.update({"ITEM_PIPELINES": {"pkg.Pipe": None}}, "spider")
    # A pipeline may be named by its class in custom_settings (as Scrapy allows).
    pipelines = {KeepPipeline: 100, "pkg.Pipe": 200}
    settings.update({"ITEM_PIPELINES": pipelines}, "spider")
    assert pipelines == settings.ITEM_PIPELINES


class KeepPipeline:
    def process_item(self, item, spider):
        return item


def test_string_forms_parse():
    settings = Settings()
    settings.update(
        {
            "ROBOTSTXT_OBEY": "off",
            "RETRY_HTTP_CODES": "[503, 429]",
            "DEFAULT_REQUEST_HEADERS": '{"Accept-Language": "en"}',
            "download_rate": "4",
        },
        "cfg",
    )
    assert settings.ROBOTSTXT_OBEY is False
    assert settings.RETRY_HTTP_CODES == [503, 429]
    assert settings.DEFAULT_REQUEST_HEADERS == {"Accept-Language": "en"}
    assert settings.host_delay == 0.25  # the rate form: 4 requests/s


def test_host_delay_is_the_stricter_of_delay_and_rate():
    settings = Settings()
    settings.update({"DOWNLOAD_DELAY": "0.5", "DOWNLOAD_RATE": "10"}, "cfg")
    assert settings.host_delay == 0.5


@pytest.mark.parametrize(
    "text, problem",
    [
        ("this is not ini\n", "line 1: 'this is not ini' comes before any [section]"),
        ("[settings]\nRETRY_TIMES = 1\nno equals sign\nx\n", "line 3: 'no equals sign' is neither"),
        ("[settings]\nA = 1\nA = 2\n", "[line 3]: option 'A' in section 'settings' already"),
    ],
)
def test_unreadable_config_is_one_line_naming_the_file(tmp_path, text, problem):
    cfg = write_cfg(tmp_path, text)
    with pytest.raises(SettingsError) as info:
        ConfigFile.read(cfg, "news")
    message = str(info.value)
    assert message.startswith(f"cannot read config file {cfg}: ") and problem in message
    assert "\n" not in message  # configparser's own messages run over several lines


def test_every_setting_is_documented():
    for name, _default, doc in Settings.docs():
        assert doc, f"{name} has no description"
