"""Preset resolution (a preset fills only what is not set), column references, the salt column."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from sso_bridge.cli import main
from sso_bridge.db import make_engine
from sso_bridge.directory.mapping import ColumnRef, parse_reference
from sso_bridge.directory.passwords import PasswordHasher
from sso_bridge.directory.presets import PRESETS
from sso_bridge.directory.sql import SqlUserDirectory
from sso_bridge.settings import (
    DirectorySettings,
    SettingsError,
    load_settings,
    raw_from_environment,
)
from tests.helpers import remember_secret

URL = "sqlite:///merchant.sqlite3"
PEPPER = remember_secret("i4bxXBmH-not-a-real-cookie-key-7Qz")


def directory(**given: Any) -> DirectorySettings:
    return load_settings({"DIRECTORY": {"URL": URL, **given}}).directory


def problems(**given: Any) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        load_settings({"DIRECTORY": {"URL": URL, **given}})
    return caught.value.problems


def test_a_preset_sets_the_platform_s_table_and_columns() -> None:
    wordpress = directory(PRESET="woocommerce")
    assert wordpress.table == "wp_users"
    assert wordpress.key_column == "ID"
    assert wordpress.login_columns == ("user_login", "user_email")
    assert wordpress.password_column == "user_pass"
    assert wordpress.first_name_column == "wp_usermeta[meta_key=first_name].meta_value"
    assert wordpress.joins == {"wp_usermeta": "user_id=ID"}
    assert wordpress.active_column is None
    assert wordpress.new_password_scheme == "wordpress"
    assert wordpress.create_defaults["user_registered"] == "now"
    assert wordpress.registrations is True
    joomla = directory(PRESET="Joomla", TABLE_PREFIX="abcde_")
    assert (joomla.preset, joomla.table, joomla.blocked_column) == (
        "joomla",
        "abcde_users",
        "block",
    )
    assert joomla.registrations is False
    assert directory(PRESET="opencart").salt_column == "salt"


def test_an_explicit_setting_wins_over_the_preset() -> None:
    settings = directory(
        PRESET="magento2",
        LOGIN_COLUMNS=["email", "taxvat"],
        NEW_PASSWORD_SCHEME="bcrypt",
        ACTIVE_COLUMN="",  # an empty column setting switches the column off, preset or not
        TABLE="shop_customers",
        CREATE_DEFAULTS={"website_id": 2},
    )
    assert settings.login_columns == ("email", "taxvat")
    assert settings.new_password_scheme == "bcrypt"
    assert settings.active_column is None
    assert settings.table == "shop_customers"
    assert settings.create_defaults == {"website_id": 2}
    assert settings.password_column == "password_hash"  # still the preset's


def test_the_prefix_replaces_the_platform_s_default_everywhere() -> None:
    assert directory(PRESET="prestashop").table == "ps_customer"
    assert directory(PRESET="opencart").table == "oc_customer"
    shop = directory(PRESET="wordpress", TABLE_PREFIX="shop7_")
    assert shop.table == "shop7_users"
    assert shop.joins == {"shop7_usermeta": "user_id=ID"}
    assert shop.last_name_column == "shop7_usermeta[meta_key=last_name].meta_value"
    assert directory(PRESET="wordpress", TABLE_PREFIX="shop7_", TABLE="users").table == "users"
    # The role usermeta row's key carries the prefix too (wp_capabilities, shop7_capabilities).
    role = "shop7_usermeta[meta_key=shop7_capabilities].meta_value"
    assert shop.create_defaults[role] == 'a:1:{s:10:"subscriber";b:1;}'
    woo = directory(PRESET="woocommerce", TABLE_PREFIX="shop7_")
    assert woo.create_defaults[role] == 'a:1:{s:8:"customer";b:1;}'


def test_unknown_preset_is_one_line_listing_the_presets() -> None:
    found = problems(PRESET="shopify")
    assert len(found) == 1
    assert "\n" not in found[0]
    assert "PRESET" in found[0]
    for name in ("wordpress", "woocommerce", "magento2", "aspnet_membership", "joomla"):
        assert name in found[0]


@pytest.mark.parametrize(
    ("given", "named", "says"),
    [
        ({"PRESET": "joomla"}, "TABLE_PREFIX", "required for preset joomla"),
        ({"TABLE_PREFIX": "wp_"}, "TABLE_PREFIX", "without PRESET"),
        ({"FIRST_NAME_COLUMN": "meta.first"}, "FIRST_NAME_COLUMN", "does not join"),
        ({"PASSWORD_COLUMN": "meta.pass", "JOINS": {"meta": "id=id"}}, "PASSWORD_COLUMN", "user"),
        ({"JOINS": {"meta": "user_id"}}, "JOINS", "their_column=our_column"),
        ({"EMAIL_COLUMN": "a[b.c"}, "EMAIL_COLUMN", "not a column reference"),
        ({"PASSWORD_PREFER": ["no_such_scheme"]}, "PASSWORD_PREFER", "no_such_scheme"),
        ({"PRESET": "opencart", "UPGRADE_HASHES": True}, "UPGRADE_HASHES", "salted SHA-1"),
        ({"PRESET": "shopware5", "UPGRADE_HASHES": True}, "UPGRADE_HASHES", "encoder column"),
    ],
)
def test_mapping_mistakes_are_named(given: dict[str, Any], named: str, says: str) -> None:
    found = problems(**given)
    assert len(found) == 1, found
    assert named in found[0] and says in found[0], found


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_is_a_valid_configuration(name: str) -> None:
    extra = {"TABLE_PREFIX": "jx_"} if name == "joomla" else {}
    settings = directory(PRESET=name, **extra)
    assert settings.table
    assert PasswordHasher(new_scheme=settings.new_password_scheme, prefer=settings.password_prefer)


def test_preset_and_pepper_come_from_the_environment_and_the_pepper_stays_hidden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    environ = {
        "SSO_BRIDGE_DIRECTORY__URL": URL,
        "SSO_BRIDGE_DIRECTORY__PRESET": "prestashop",
        "SSO_BRIDGE_DIRECTORY__PEPPER": PEPPER,
    }
    settings = load_settings(raw_from_environment(environ))
    assert settings.directory.pepper == PEPPER
    assert settings.directory.table == "ps_customer"
    assert PEPPER not in repr(settings) + str(settings)
    for name in list(os.environ):
        if name.startswith("SSO_BRIDGE_"):
            monkeypatch.delenv(name)
    result = CliRunner().invoke(main, ["config", "--json"], env=environ)
    assert result.exit_code == 0, result.output
    assert PEPPER not in result.output
    shown = json.loads(result.output)
    assert shown["SSO_BRIDGE_DIRECTORY__PEPPER"]["value"] == "***"


def test_column_references() -> None:
    assert parse_reference("email") == ColumnRef("email")
    assert parse_reference("aspnet_Users.UserName") == ColumnRef("UserName", "aspnet_Users")
    assert parse_reference("wp_usermeta[meta_key=first_name].meta_value") == ColumnRef(
        "meta_value", "wp_usermeta", "meta_key", "first_name"
    )
    with pytest.raises(ValueError, match=r"table\.column"):
        parse_reference("a.b.c")


# --- the salt column: verification, calibration, upgrade -------------------------------------

# OpenCart 3's oc_customer, the columns the bridge reads; the hash from tests/vectors/php.json
# ("OpenCart 2/3 model/account/customer.php addCustomer").
OPENCART_HASH = "9851d8a0fd3c3095d386b2e3cdc097616e1a3836"
OPENCART_SALT = "hH2svpDSe"
PW = "correct horse battery staple"


def opencart(tmp_path: Path, **given: Any) -> SqlUserDirectory:
    url = f"sqlite:///{tmp_path / 'oc.sqlite3'}"
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TABLE oc_customer (customer_id integer PRIMARY KEY, firstname varchar(32)"
                " NOT NULL, lastname varchar(32) NOT NULL, email varchar(96) NOT NULL,"
                " telephone varchar(32) NOT NULL, password varchar(255) NOT NULL,"
                " salt varchar(9) NOT NULL, status tinyint NOT NULL)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO oc_customer VALUES (7, 'Ann', 'Lee', 'ann@shop.test', '555', :hash,"
                " :salt, 1)"
            ),
            {"hash": OPENCART_HASH, "salt": OPENCART_SALT},
        )
    settings = load_settings({"DIRECTORY": {"URL": url, **given}}).directory
    return SqlUserDirectory(
        engine=engine,
        mapping=settings,
        hasher=PasswordHasher(new_scheme=settings.new_password_scheme),
        upgrade_hashes=settings.upgrade_hashes,
    )


# OpenCart's layout mapped by hand: the opencart preset refuses upgrades (OpenCart 3 could not
# read them), a table of the same shape whose site can is mapped like this.
BY_HAND = {
    "TABLE": "oc_customer",
    "KEY_COLUMN": "customer_id",
    "SALT_COLUMN": "salt",
    "FIRST_NAME_COLUMN": "firstname",
    "LAST_NAME_COLUMN": "lastname",
    "ACTIVE_COLUMN": "status",
    "NEW_PASSWORD_SCHEME": "bcrypt",
}


def test_salt_column_is_read_for_verification_and_calibration(tmp_path: Path) -> None:
    users = opencart(tmp_path, PRESET="opencart")
    assert users.password_samples(10) == [(OPENCART_HASH, OPENCART_SALT)]
    assert users.authenticate("ann@shop.test", PW) is not None
    assert users.authenticate("ann@shop.test", PW + "x") is None
    # An unknown login costs a verification of the same format as the table's (with a salt).
    dummy = users._dummy()
    assert dummy.salt is not None
    assert users.hasher.scheme_of(dummy.hash, salt=dummy.salt) == "opencart_sha1"


def test_an_upgrade_writes_a_self_salted_hash_and_clears_the_salt(tmp_path: Path) -> None:
    users = opencart(tmp_path, UPGRADE_HASHES=True, **BY_HAND)
    assert users.authenticate("ann@shop.test", PW) is not None
    with users.engine.connect() as connection:
        stored, salt = connection.execute(
            text("SELECT password, salt FROM oc_customer WHERE customer_id = 7")
        ).one()
    assert stored.startswith("$2b$12$")
    assert salt == ""
    assert users.authenticate("ann@shop.test", PW) is not None
    assert users.authenticate("ann@shop.test", PW + "x") is None
