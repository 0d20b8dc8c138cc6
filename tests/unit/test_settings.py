"""Settings: `SSO_BRIDGE_*` environment over an optional TOML file, validated in one go."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sso_bridge.settings import (
    DirectorySettings,
    PrivateStoreRule,
    Settings,
    SettingsError,
    load_settings,
    own_database_url,
    raw_from_environment,
    setting_names,
)

URL = "sqlite:///merchant.sqlite3"
MINIMAL = {"DIRECTORY": {"URL": URL}}


def _problems(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        load_settings(raw)
    return caught.value.problems


# --- raw_from_environment: the Flask from_prefixed_env convention ----------------------------


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        pytest.param({}, {}, id="nothing"),
        pytest.param(
            {"PATH": "/usr/bin", "HOME": "/root", "FLASK_APP": "x", "SSO_BRIDGEX": "1"},
            {},
            id="foreign-variables-ignored",
        ),
        pytest.param({"SSO_BRIDGE_SITE_ID": "mysite"}, {"SITE_ID": "mysite"}, id="plain-string"),
        pytest.param(
            {"SSO_BRIDGE_DR_BASE_URL": "http://127.0.0.1:9/x"},
            {"DR_BASE_URL": "http://127.0.0.1:9/x"},
            id="string-that-is-not-json",
        ),
        pytest.param({"SSO_BRIDGE_SESSION_TTL": "120"}, {"SESSION_TTL": 120}, id="json-int"),
        pytest.param({"SSO_BRIDGE_DR_TIMEOUT": "1.5"}, {"DR_TIMEOUT": 1.5}, id="json-float"),
        pytest.param({"SSO_BRIDGE_FLAG": "true"}, {"FLAG": True}, id="json-bool"),
        pytest.param({"SSO_BRIDGE_THING": "null"}, {"THING": None}, id="json-null"),
        pytest.param(
            {"SSO_BRIDGE_API_KEYS": '["k1", "k2"]'}, {"API_KEYS": ["k1", "k2"]}, id="json-list"
        ),
        pytest.param(
            {"SSO_BRIDGE_RUM_USERS": '{"dr":"pw"}'},
            {"RUM_USERS": {"dr": "pw"}},
            id="json-object-keeps-lower-case-user",
        ),
        pytest.param(
            {"SSO_BRIDGE_RUM_USERS": '{"DR-Prod":"Pw","dr-next":"x"}'},
            {"RUM_USERS": {"DR-Prod": "Pw", "dr-next": "x"}},
            id="json-object-keeps-mixed-case-users",
        ),
        pytest.param(
            {
                "SSO_BRIDGE_DIRECTORY__URL": "postgresql://u@h/db",
                "SSO_BRIDGE_DIRECTORY__LOGIN_COLUMNS": '["email", "username"]',
                "SSO_BRIDGE_DIRECTORY__CREATE_DEFAULTS": '{"is_staff": false, "date_joined":"now"}',
            },
            {
                "DIRECTORY": {
                    "URL": "postgresql://u@h/db",
                    "LOGIN_COLUMNS": ["email", "username"],
                    "CREATE_DEFAULTS": {"is_staff": False, "date_joined": "now"},
                }
            },
            id="double-underscore-nesting",
        ),
        pytest.param({"SSO_BRIDGE_A__B__C": "1"}, {"A": {"B": {"C": 1}}}, id="deep-nesting"),
    ],
)
def test_raw_from_environment(environ: dict[str, str], expected: dict[str, Any]) -> None:
    assert raw_from_environment(environ) == expected


def test_environment_variables_load_into_settings() -> None:
    environ = {
        "SSO_BRIDGE_DATABASE_URL": "postgresql://bridge@127.0.0.1/bridge",
        "SSO_BRIDGE_REDIS_URL": "redis://127.0.0.1:6379/3",
        "SSO_BRIDGE_DR_BASE_URL": "http://127.0.0.1:8081/",
        "SSO_BRIDGE_DR_API_KEY": "dr-key",
        "SSO_BRIDGE_DR_API_SECRET": "dr-secret",
        "SSO_BRIDGE_RUM_USERS": '{"DR":"pw","dr2":"pw2"}',
        "SSO_BRIDGE_API_KEYS": '["key-1", "key-2"]',
        "SSO_BRIDGE_SITE_ID": "12345",  # JSON number, still a string setting
        "SSO_BRIDGE_SESSION_TTL": "900",
        "SSO_BRIDGE_RUM_ALLOWED_IPS": '["10.0.0.0/8", "192.0.2.7"]',
        "SSO_BRIDGE_DIRECTORY__URL": "mysql://shop@127.0.0.1/shop",
        "SSO_BRIDGE_DIRECTORY__TABLE": "auth_user",
        "SSO_BRIDGE_DIRECTORY__KEY_COLUMN": "id",
        "SSO_BRIDGE_DIRECTORY__LOGIN_COLUMNS": '["username", "email"]',
        "SSO_BRIDGE_DIRECTORY__ACTIVE_COLUMN": "is_active",
        "SSO_BRIDGE_DIRECTORY__NEW_PASSWORD_SCHEME": "django_pbkdf2_sha256",
        "SSO_BRIDGE_DIRECTORY__CREATE_DEFAULTS": '{"is_superuser": false, "date_joined": "now"}',
        "SSO_BRIDGE_PRIVATE_STORES": (
            '[{"emailDomain": "university.edu", "purchasePlanId": "11858700",'
            ' "targetMarketId": "35100"}, {"emailDomain": "example.org", "search": true}]'
        ),
    }
    settings = load_settings(raw_from_environment(environ))
    assert settings.database_url == "postgresql://bridge@127.0.0.1/bridge"
    assert settings.redis_url == "redis://127.0.0.1:6379/3"
    assert settings.dr_base_url == "http://127.0.0.1:8081"  # trailing slash dropped
    assert (settings.dr_api_key, settings.dr_api_secret) == ("dr-key", "dr-secret")
    assert dict(settings.rum_users) == {"DR": "pw", "dr2": "pw2"}
    assert settings.api_keys == ("key-1", "key-2")
    assert settings.site_id == "12345"
    assert settings.session_ttl == 900
    assert settings.rum_allowed_ips == ("10.0.0.0/8", "192.0.2.7")
    assert settings.directory == DirectorySettings(
        url="mysql://shop@127.0.0.1/shop",
        table="auth_user",
        key_column="id",
        login_columns=("username", "email"),
        active_column="is_active",
        new_password_scheme="django_pbkdf2_sha256",
        create_defaults={"is_superuser": False, "date_joined": "now"},
    )
    assert settings.private_stores == (
        PrivateStoreRule(
            email_domain="university.edu", purchase_plan_id="11858700", target_market_id="35100"
        ),
        PrivateStoreRule(email_domain="example.org", search=True),
    )


def test_defaults() -> None:
    settings = load_settings(MINIMAL)
    assert settings == Settings(
        database_url="sqlite:///sso-bridge.sqlite3", directory=settings.directory
    )
    assert settings.directory == DirectorySettings(url=URL)
    assert settings.redis_url is None
    assert settings.dr_base_url == "https://api.digitalriver.com"
    assert settings.rum_users == {}
    assert settings.api_keys == ()
    assert settings.private_stores == ()
    assert settings.rum_password_encryption is None
    assert settings.session_ttl == 3600
    assert settings.log_level == "INFO"
    directory = settings.directory
    assert directory.table == "users"
    assert directory.key_column == "id"
    assert directory.login_columns == ("email",)
    assert directory.password_column == "password"
    assert directory.email_column == "email"
    assert directory.active_column == "active"
    assert directory.new_password_scheme == "argon2"
    assert dict(directory.create_defaults) == {}


def test_lower_case_keys_in_a_mapping_work() -> None:
    settings = load_settings(
        {"directory": {"url": URL, "table": "accounts"}, "rum_users": {"Dr": "pw"}, "site_id": "s"}
    )
    assert (settings.directory.url, settings.directory.table) == (URL, "accounts")
    assert dict(settings.rum_users) == {"Dr": "pw"}  # data keeps its case
    assert settings.site_id == "s"


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("ACTIVE_COLUMN", "", None),
        ("ACTIVE_COLUMN", None, None),
        ("ACTIVE_COLUMN", False, None),
        ("ACTIVE_COLUMN", "is_active", "is_active"),
        ("EMAIL_COLUMN", "", None),
    ],
)
def test_optional_column_can_be_switched_off(column: str, value: Any, expected: Any) -> None:
    settings = load_settings({"DIRECTORY": {"URL": URL, column: value}})
    assert getattr(settings.directory, column.lower()) == expected


# --- TOML file ------------------------------------------------------------------------------

TOML = """
database_url = "sqlite:///from-toml.sqlite3"
site_id = "toml-site"
api_keys = ["toml-key"]
session_ttl = 1200

[directory]
url = "sqlite:///toml-merchant.sqlite3"
table = "accounts"
login_columns = ["email", "username"]
create_defaults = { is_staff = false, date_joined = "now" }

[rum_users]
DR = "toml-pw"
"""


def _toml(tmp_path: Path, body: str = TOML) -> str:
    path = tmp_path / "sso-bridge.toml"
    path.write_text(body, encoding="utf-8")
    return str(path)


def test_toml_file_with_lower_case_keys_and_a_directory_table(tmp_path: Path) -> None:
    settings = load_settings(raw_from_environment({"SSO_BRIDGE_CONFIG": _toml(tmp_path)}))
    assert settings.database_url == "sqlite:///from-toml.sqlite3"
    assert settings.site_id == "toml-site"
    assert settings.api_keys == ("toml-key",)
    assert settings.session_ttl == 1200
    assert settings.directory.url == "sqlite:///toml-merchant.sqlite3"
    assert settings.directory.table == "accounts"
    assert settings.directory.login_columns == ("email", "username")
    assert dict(settings.directory.create_defaults) == {"is_staff": False, "date_joined": "now"}
    assert dict(settings.rum_users) == {"DR": "toml-pw"}


def test_environment_wins_over_toml_key_by_key(tmp_path: Path) -> None:
    environ = {
        "SSO_BRIDGE_CONFIG": _toml(tmp_path),
        "SSO_BRIDGE_SITE_ID": "env-site",
        "SSO_BRIDGE_DIRECTORY__URL": "sqlite:///env-merchant.sqlite3",
        "SSO_BRIDGE_RUM_USERS": '{"dr":"env-pw"}',
    }
    settings = load_settings(raw_from_environment(environ))
    assert settings.site_id == "env-site"
    assert settings.directory.url == "sqlite:///env-merchant.sqlite3"
    # The rest of the [directory] table still comes from the file.
    assert settings.directory.table == "accounts"
    assert settings.directory.login_columns == ("email", "username")
    # A whole JSON object from the environment replaces the file's table.
    assert dict(settings.rum_users) == {"dr": "env-pw"}
    assert settings.database_url == "sqlite:///from-toml.sqlite3"


def test_unreadable_toml_file_is_a_settings_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="CONFIG"):
        raw_from_environment({"SSO_BRIDGE_CONFIG": str(tmp_path / "missing.toml")})
    with pytest.raises(SettingsError, match="CONFIG"):
        raw_from_environment({"SSO_BRIDGE_CONFIG": _toml(tmp_path, "this is = = not toml")})


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        pytest.param({}, "SSO_BRIDGE_DIRECTORY__URL", id="missing-directory-url"),
        pytest.param({"DIRECTORY": {"URL": ""}}, "SSO_BRIDGE_DIRECTORY__URL", id="empty-url"),
        pytest.param(
            {"DIRECTORY": {"URL": "not a url"}}, "SSO_BRIDGE_DIRECTORY__URL", id="bad-url"
        ),
        pytest.param(
            {**MINIMAL, "DATABASE_URL": "::nope::"}, "SSO_BRIDGE_DATABASE_URL", id="bad-own-url"
        ),
        pytest.param(
            {**MINIMAL, "RUM_ALLOWED_IPS": ["10.0.0.0/8", "10.0.0.300"]},
            "SSO_BRIDGE_RUM_ALLOWED_IPS",
            id="bad-ip",
        ),
        pytest.param(
            {"DIRECTORY": {"URL": URL, "NEW_PASSWORD_SCHEME": "rot13"}},
            "SSO_BRIDGE_DIRECTORY__NEW_PASSWORD_SCHEME",
            id="unknown-scheme",
        ),
        pytest.param(
            {"DIRECTORY": {"URL": URL, "NEW_PASSWORD_SCHEME": "md5_crypt"}},
            "SSO_BRIDGE_DIRECTORY__NEW_PASSWORD_SCHEME",
            id="legacy-scheme-not-for-new-hashes",
        ),
        pytest.param({**MINIMAL, "API_KEYS": 42}, "SSO_BRIDGE_API_KEYS", id="api-keys-int"),
        pytest.param(
            {**MINIMAL, "API_KEYS": {"a": "b"}}, "SSO_BRIDGE_API_KEYS", id="api-keys-object"
        ),
        pytest.param({**MINIMAL, "API_KEYS": ["ok", ""]}, "SSO_BRIDGE_API_KEYS", id="empty-key"),
        pytest.param({**MINIMAL, "RUM_USERS": ["dr"]}, "SSO_BRIDGE_RUM_USERS", id="rum-list"),
        pytest.param({**MINIMAL, "RUM_USERS": {"dr": 1}}, "SSO_BRIDGE_RUM_USERS", id="rum-int"),
        pytest.param(
            {**MINIMAL, "PRIVATE_STORES": {"emailDomain": "x.edu"}},
            "SSO_BRIDGE_PRIVATE_STORES",
            id="stores-not-a-list",
        ),
        pytest.param(
            {**MINIMAL, "PRIVATE_STORES": [{"emailDomain": "x.edu"}]},
            "SSO_BRIDGE_PRIVATE_STORES[0]",
            id="store-without-plan",
        ),
        pytest.param(
            {**MINIMAL, "PRIVATE_STORES": [{"purchasePlanId": "1"}]},
            "SSO_BRIDGE_PRIVATE_STORES[0]",
            id="store-without-match",
        ),
        pytest.param(
            {**MINIMAL, "PRIVATE_STORES": [{"ipRange": "10.0.0.0/8", "search": True}]},
            "SSO_BRIDGE_PRIVATE_STORES[0]",
            id="store-ip-range-unsupported",
        ),
        pytest.param({**MINIMAL, "SESSION_TTL": 0}, "SSO_BRIDGE_SESSION_TTL", id="ttl-zero"),
        pytest.param({**MINIMAL, "SESSION_TTL": "x"}, "SSO_BRIDGE_SESSION_TTL", id="ttl-text"),
        pytest.param({**MINIMAL, "DR_TIMEOUT": "slow"}, "SSO_BRIDGE_DR_TIMEOUT", id="timeout"),
        pytest.param({**MINIMAL, "LOG_LEVEL": "LOUD"}, "SSO_BRIDGE_LOG_LEVEL", id="log-level"),
        pytest.param(
            {**MINIMAL, "TOKEN_REFRESH_FRACTION": 1.5},
            "SSO_BRIDGE_TOKEN_REFRESH_FRACTION",
            id="refresh-fraction",
        ),
        pytest.param({**MINIMAL, "SITE_ID": ["a"]}, "SSO_BRIDGE_SITE_ID", id="site-id-list"),
        pytest.param(
            {"DIRECTORY": {"URL": URL, "CREATE_DEFAULTS": ["x"]}},
            "SSO_BRIDGE_DIRECTORY__CREATE_DEFAULTS",
            id="create-defaults-list",
        ),
        pytest.param(
            {**MINIMAL, "RUM_PASSWORD_ENCRYPTION": {"MODE": "cbc"}},
            "SSO_BRIDGE_RUM_PASSWORD_ENCRYPTION__KEY",
            id="encryption-without-key",
        ),
        pytest.param(
            {**MINIMAL, "RUM_PASSWORD_ENCRYPTION": {"KEY": "00" * 16, "IV": "not-an-iv!"}},
            "SSO_BRIDGE_RUM_PASSWORD_ENCRYPTION__IV",
            id="encryption-bad-iv",
        ),
        pytest.param(
            {**MINIMAL, "RUM_PASSWORD_ENCRYPTION": {"KEY": "00" * 16, "MODE": "ctr"}},
            "SSO_BRIDGE_RUM_PASSWORD_ENCRYPTION__MODE",
            id="encryption-bad-mode",
        ),
        pytest.param(
            {**MINIMAL, "RUM_PASSWORD_ENCRYPTION": {"KEY": "abc"}},
            "SSO_BRIDGE_RUM_PASSWORD_ENCRYPTION__KEY",
            id="encryption-short-key",
        ),
    ],
)
def test_each_mistake_is_named(raw: dict[str, Any], named: str) -> None:
    problems = _problems(raw)
    assert len(problems) == 1, problems
    assert problems[0].startswith(named + ":"), problems


def test_one_error_names_every_problem() -> None:
    environ = {
        # no SSO_BRIDGE_DIRECTORY__URL
        "SSO_BRIDGE_DIRECTORY__NEW_PASSWORD_SCHEME": "rot13",
        "SSO_BRIDGE_RUM_ALLOWED_IPS": '["10.0.0.0/8", "not-an-ip"]',
        "SSO_BRIDGE_API_KEYS": '{"key": "value"}',
        "SSO_BRIDGE_PRIVATE_STORES": '[{"emailDomain": "ok.edu", "search": true}, {"ipRange":"x"}]',
        "SSO_BRIDGE_SESSION_TTL": "-5",
        "SSO_BRIDGE_RUM_USERS": '["dr"]',
    }
    with pytest.raises(SettingsError) as caught:
        load_settings(raw_from_environment(environ))
    error = caught.value
    named = [problem.split(":", 1)[0] for problem in error.problems]
    assert set(named) == {
        "SSO_BRIDGE_DIRECTORY__URL",
        "SSO_BRIDGE_DIRECTORY__NEW_PASSWORD_SCHEME",
        "SSO_BRIDGE_RUM_ALLOWED_IPS",
        "SSO_BRIDGE_API_KEYS",
        "SSO_BRIDGE_PRIVATE_STORES[1]",
        "SSO_BRIDGE_SESSION_TTL",
        "SSO_BRIDGE_RUM_USERS",
    }
    assert named.count("SSO_BRIDGE_PRIVATE_STORES[1]") >= 2  # no match rule, no plan, bad CIDR
    assert "'not-an-ip'" in str(error)
    # The one message shows every problem, one per line.
    message = str(error)
    for problem in error.problems:
        assert f"  - {problem}" in message


def test_valid_encryption_section_is_read() -> None:
    settings = load_settings(
        {**MINIMAL, "RUM_PASSWORD_ENCRYPTION": {"key": "11" * 32, "mode": "gcm", "iv": "prefix"}}
    )
    assert settings.rum_password_encryption is not None
    assert settings.rum_password_encryption.mode == "gcm"
    assert settings.rum_password_encryption.key == "11" * 32


# --- secrets never in repr ------------------------------------------------------------------


def test_repr_shows_no_secret() -> None:
    secrets = {
        "rum": "rum-password-c0ffee",
        "api": "api-key-deadbeef",
        "dr_key": "dr-api-key-feed",
        "dr_secret": "dr-api-secret-f00d",
        "aes": "ab" * 32,
        "token_key": "cd" * 32,
    }
    settings = load_settings(
        {
            **MINIMAL,
            "RUM_USERS": {"dr": secrets["rum"]},
            "API_KEYS": [secrets["api"]],
            "DR_API_KEY": secrets["dr_key"],
            "DR_API_SECRET": secrets["dr_secret"],
            "RUM_PASSWORD_ENCRYPTION": {"KEY": secrets["aes"]},
            "TOKEN_ENCRYPTION_KEYS": [secrets["token_key"]],
            "SITE_ID": "visible-site",
        }
    )
    text = repr(settings) + str(settings)
    assert "visible-site" in text  # the repr is real, not blank
    for name, secret in secrets.items():
        assert secret not in text, name
    # Yet the values are there for the code that needs them.
    assert settings.rum_users["dr"] == secrets["rum"]
    assert settings.api_keys == (secrets["api"],)
    assert settings.dr_api_secret == secrets["dr_secret"]


# --- strict keys: unknown settings are named, with a suggestion -----------------------------

# Issue 10 item 2: each of these was accepted silently ("settings valid").
MISSPELT_TOML = """
sesion_ttl = 600
totally_unknown = true

[directory]
url = "sqlite:///merchant.sqlite3"
login_column = "username"
"""


def test_unknown_keys_in_the_file_and_the_environment_are_each_named(tmp_path: Path) -> None:
    config = _toml(tmp_path, MISSPELT_TOML)
    environ = {"SSO_BRIDGE_CONFIG": config, "SSO_BRIDGE_DIRECTORY__LOGIN_COLUMN": "email"}
    with pytest.raises(SettingsError) as caught:
        load_settings(raw_from_environment(environ))
    assert sorted(caught.value.problems) == sorted(
        [
            f"sesion_ttl (in {config}): unknown setting (did you mean session_ttl?)",
            f"totally_unknown (in {config}): unknown setting",
            f"directory.login_column (in {config}): unknown setting"
            " (did you mean directory.login_columns?)",
            "SSO_BRIDGE_DIRECTORY__LOGIN_COLUMN: unknown setting"
            " (did you mean DIRECTORY__LOGIN_COLUMNS?)",
        ]
    )
    for problem in caught.value.problems:  # one message names them all
        assert problem in str(caught.value)


def test_unknown_environment_variable_suggests_the_setting() -> None:
    environ = {"SSO_BRIDGE_DIRECTORY__URL": URL, "SSO_BRIDGE_SESION_TTL": "600"}
    assert _problems(raw_from_environment(environ)) == [
        "SSO_BRIDGE_SESION_TTL: unknown setting (did you mean SESSION_TTL?)"
    ]


def test_each_default_is_stated_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # Issue 10/12: the dataclass said login_concurrency 2 while the reader said the CPU count,
    # and the database URL's default lived in the reader and again in the CLI.
    monkeypatch.setattr("os.cpu_count", lambda: 7)
    loaded = load_settings(MINIMAL)
    assert loaded == Settings(directory=DirectorySettings(url=URL))
    assert loaded.login_concurrency == 7
    assert loaded.database_url == "sqlite:///sso-bridge.sqlite3"


def test_every_unknown_key_is_named_wherever_it_is(tmp_path: Path) -> None:
    config = _toml(
        tmp_path,
        """
[directory]
url = "sqlite:///merchant.sqlite3"
create_defaults = { anything = "goes", in_a_data_table = true }

[rum_users]
Any-Name = "pw"

[rum_password_encryption]
key = "hex:00112233445566778899aabbccddeeff"
mod = "gcm"

[[private_stores]]
emailDomain = "example.org"
search = true
emailDomian = "typo.org"
""",
    )
    environ = {
        "SSO_BRIDGE_CONFIG": config,
        "SSO_BRIDGE_LOGIN_COLUMNS": '["email"]',  # belongs in the directory table
        "SSO_BRIDGE_TOTALLY_UNKNOWN": "1",
        "SSO_BRIDGE_PRIVATE_STORES": '[{"emailDomain": "x.edu", "search": true, "plan": "1"}]',
    }
    assert sorted(_problems(raw_from_environment(environ))) == sorted(
        [
            f"rum_password_encryption.mod (in {config}): unknown setting"
            " (did you mean rum_password_encryption.mode?)",
            f"private_stores[0] (in {config}): unknown key 'emailDomian'"
            " (did you mean emailDomain?)",
            "SSO_BRIDGE_LOGIN_COLUMNS: unknown setting (did you mean DIRECTORY__LOGIN_COLUMNS?)",
            "SSO_BRIDGE_TOTALLY_UNKNOWN: unknown setting",
            "SSO_BRIDGE_PRIVATE_STORES[0]: unknown key 'plan'",
        ]
    )


def test_unknown_keys_in_a_mapping_are_named_as_variables() -> None:
    problems = _problems({**MINIMAL, "sesion_ttl": 5, "DIRECTORY": {"URL": URL, "tabel": "x"}})
    assert sorted(problems) == [
        "SSO_BRIDGE_DIRECTORY__TABEL: unknown setting (did you mean DIRECTORY__TABLE?)",
        "SSO_BRIDGE_SESION_TTL: unknown setting (did you mean SESSION_TTL?)",
    ]


def test_our_variables_that_are_not_settings_are_allowed(tmp_path: Path) -> None:
    environ = {
        "SSO_BRIDGE_CONFIG": _toml(tmp_path),
        "SSO_BRIDGE_TEST_REDIS_URL": "redis://127.0.0.1:6379/9",
        "SSO_BRIDGE_TEST_POSTGRES_URL": "postgresql://postgres@127.0.0.1/postgres",
    }
    assert load_settings(raw_from_environment(environ)).site_id == "toml-site"


def test_unknown_problems_come_with_the_value_problems_in_one_error() -> None:
    environ = {"SSO_BRIDGE_SESION_TTL": "600", "SSO_BRIDGE_SESSION_TTL": "0"}
    problems = _problems(raw_from_environment(environ))
    assert [problem.split(":", 1)[0] for problem in problems] == [
        "SSO_BRIDGE_SESION_TTL",
        "SSO_BRIDGE_DIRECTORY__URL",
        "SSO_BRIDGE_SESSION_TTL",
    ]


def test_setting_names_list_every_variable_once() -> None:
    names = setting_names()
    assert len(names) == len(set(names))
    for name in (
        "SSO_BRIDGE_DATABASE_URL",
        "SSO_BRIDGE_DIRECTORY__URL",
        "SSO_BRIDGE_DIRECTORY__LOGIN_COLUMNS",
        "SSO_BRIDGE_RUM_PASSWORD_ENCRYPTION__KEY",
        "SSO_BRIDGE_PRIVATE_STORES",
        "SSO_BRIDGE_BIND",
        "SSO_BRIDGE_WORKERS",
        "SSO_BRIDGE_FORWARDED_ALLOW_IPS",
    ):
        assert name in names
    assert "SSO_BRIDGE_CONFIG" not in names
    assert "SSO_BRIDGE_DIRECTORY" not in names  # a table, not a setting of its own
    # Every name loads: none of them is refused as unknown.
    environ = {
        **dict.fromkeys(names, ""),
        "SSO_BRIDGE_DIRECTORY__URL": URL,
        "SSO_BRIDGE_RUM_PASSWORD_ENCRYPTION__KEY": "hex:" + "00" * 16,
    }
    settings = load_settings(raw_from_environment(environ))
    assert settings.directory.url == URL


def test_empty_values_mean_the_default() -> None:
    environ = {
        "SSO_BRIDGE_DIRECTORY__URL": URL,
        "SSO_BRIDGE_SESSION_TTL": "",
        "SSO_BRIDGE_LOG_LEVEL": "",
        "SSO_BRIDGE_REDIS_URL": "",
        "SSO_BRIDGE_DIRECTORY__LOGIN_COLUMNS": "[]",
        "SSO_BRIDGE_DIRECTORY__EMAIL_COLUMN": "",  # an optional column: switched off
    }
    settings = load_settings(raw_from_environment(environ))
    assert (settings.session_ttl, settings.log_level, settings.redis_url) == (3600, "INFO", None)
    assert settings.directory.login_columns == ("email",)
    assert settings.directory.email_column is None


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"SESSION_TTL": True}, "SSO_BRIDGE_SESSION_TTL: must be an integer"),
        ({"DR_TIMEOUT": False}, "SSO_BRIDGE_DR_TIMEOUT: must be a number"),
        ({"MAX_BODY_BYTES": 10}, "SSO_BRIDGE_MAX_BODY_BYTES: must be >= 1024"),
        ({"REDIS_TIMEOUT": 0}, "SSO_BRIDGE_REDIS_TIMEOUT: must be a number >= 0.001"),
        ({"THROTTLE_ENABLED": "maybe"}, "SSO_BRIDGE_THROTTLE_ENABLED: must be true or false"),
        ({"DIRECTORY": "sqlite://"}, "SSO_BRIDGE_DIRECTORY: must be a table/object"),
        ({"PRIVATE_STORES": ["x.edu"]}, "SSO_BRIDGE_PRIVATE_STORES[0]: must be a table/object"),
        ({"BIND": "8080"}, "SSO_BRIDGE_BIND: must be HOST:PORT (e.g. 0.0.0.0:8080) or unix:PATH"),
        ({"WORKERS": 0}, "SSO_BRIDGE_WORKERS: must be >= 1"),
        (
            {"FORWARDED_ALLOW_IPS": "10.0.0.1, proxy.internal"},
            "SSO_BRIDGE_FORWARDED_ALLOW_IPS: 'proxy.internal' is not an IP address or CIDR",
        ),
        (
            {"TOKEN_ENCRYPTION_KEYS": ["cd" * 32, "short"]},
            "SSO_BRIDGE_TOKEN_ENCRYPTION_KEYS[1]: must be 32 bytes as base64 or 64 hex digits",
        ),
        (
            {"DR_API_SECRET": "s3cr3t-value"},
            "SSO_BRIDGE_DR_API_KEY: DR_API_KEY and DR_API_SECRET go together",
        ),
    ],
)
def test_each_value_problem_is_worded_for_the_operator(raw: dict[str, Any], problem: str) -> None:
    assert _problems({**MINIMAL, **raw}) == [problem]


def test_no_secret_value_appears_in_any_problem() -> None:
    secrets = ["rum-pw-c0ffee", "api-key-feed", "dr-secret-f00d", "ab" * 31]
    problems = _problems(
        {
            "DIRECTORY": {"URL": "not a url with pw-d00d", "API_PASSWORD": ["pw-d00d"]},
            "RUM_USERS": {"dr": secrets[0], "": secrets[0]},
            "API_KEYS": [secrets[1], 5],
            "DR_API_SECRET": [secrets[2]],
            "TOKEN_ENCRYPTION_KEYS": [secrets[3]],
            "RUM_PASSWORD_ENCRYPTION": {"KEY": secrets[3]},
        }
    )
    assert len(problems) >= 6, problems
    for secret in [*secrets, "pw-d00d"]:
        assert not any(secret in problem for problem in problems), secret


def test_server_settings_have_their_defaults_and_accept_a_comma_separated_list() -> None:
    settings = load_settings(MINIMAL)
    assert (settings.bind, settings.workers) == ("127.0.0.1:8080", 2)
    assert settings.forwarded_allow_ips == ("127.0.0.1", "::1")
    environ = {
        "SSO_BRIDGE_DIRECTORY__URL": URL,
        "SSO_BRIDGE_BIND": "0.0.0.0:9000",
        "SSO_BRIDGE_WORKERS": "4",
        "SSO_BRIDGE_FORWARDED_ALLOW_IPS": "10.0.0.0/8, 192.0.2.7",
    }
    settings = load_settings(raw_from_environment(environ))
    assert (settings.bind, settings.workers) == ("0.0.0.0:9000", 4)
    assert settings.forwarded_allow_ips == ("10.0.0.0/8", "192.0.2.7")
    listed = {**MINIMAL, "FORWARDED_ALLOW_IPS": ["10.1.2.3"], "BIND": "unix:/run/sso.sock"}
    assert load_settings(listed).forwarded_allow_ips == ("10.1.2.3",)
    # "*" would believe X-Forwarded-For from any peer: a client could forge its address.
    assert _problems({**MINIMAL, "FORWARDED_ALLOW_IPS": "*"}) == [
        "SSO_BRIDGE_FORWARDED_ALLOW_IPS: '*' is not an IP address or CIDR"
    ]


def test_own_database_url_needs_no_other_setting() -> None:
    assert own_database_url({}) == "sqlite:///sso-bridge.sqlite3"
    assert own_database_url({}) == load_settings(MINIMAL).database_url
    assert own_database_url({"database_url": "postgresql://b@h/b"}) == "postgresql://b@h/b"


def test_login_api_credentials_are_checked_together_with_everything_else() -> None:
    directory = {"BACKEND": "http", "API_URL": "https://login.internal", "API_TIMEOUT": 0}
    assert sorted(_problems({"DIRECTORY": directory, "SESSION_TTL": 0})) == [
        "SSO_BRIDGE_DIRECTORY__API_TIMEOUT: must be a number >= 0.05",
        "SSO_BRIDGE_DIRECTORY__API_TOKEN: is required (or API_USERNAME and API_PASSWORD)",
        "SSO_BRIDGE_SESSION_TTL: must be >= 1",
    ]


def test_forwarded_allow_ips_are_networks_as_gunicorn_reads_them() -> None:
    # gunicorn builds ipaddress.ip_network(item) (strict): host bits set would stop it later.
    assert _problems({**MINIMAL, "FORWARDED_ALLOW_IPS": "10.0.0.1/8"}) == [
        "SSO_BRIDGE_FORWARDED_ALLOW_IPS: '10.0.0.1/8' is not an IP address or CIDR"
    ]
    assert load_settings({**MINIMAL, "FORWARDED_ALLOW_IPS": "10.0.0.0/8"}).forwarded_allow_ips == (
        "10.0.0.0/8",
    )
