from pathlib import Path

import pytest

from scraper.errors import SettingsError
from scraper.settings import ConfigFile, Settings, build_settings


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
    ],
)
def test_bad_values_are_errors_naming_the_setting(values, message):
    with pytest.raises(SettingsError) as info:
        Settings().update(values, "-s")
    assert message in str(info.value)


def test_python_values_from_custom_settings_are_type_checked():
    settings = Settings()
    settings.update({"DOWNLOAD_DELAY": 2, "RETRY_HTTP_CODES": [500]}, "spider")
    assert settings.DOWNLOAD_DELAY == 2.0 and settings.RETRY_HTTP_CODES == [500]
    with pytest.raises(SettingsError, match="RETRY_TIMES .*expected an integer"):
        settings.update({"RETRY_TIMES": "3 times"}, "spider")
    with pytest.raises(SettingsError, match="ROBOTSTXT_OBEY .*expected a boolean"):
        settings.update({"ROBOTSTXT_OBEY": 1}, "spider")


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


def test_unreadable_config_is_a_settings_error(tmp_path):
    cfg = write_cfg(tmp_path, "this is not ini\n")
    with pytest.raises(SettingsError, match="cannot read config file"):
        ConfigFile.read(cfg, "news")


def test_every_setting_is_documented():
    for name, _default, doc in Settings.docs():
        assert doc, f"{name} has no description"
