# ruff: noqa: S106  (column and hash scheme names, not passwords)
"""Platform presets: one word (``DIRECTORY__PRESET=woocommerce``) for a platform's user table.

Each preset is the platform's own schema, read from its installer or migrations (named beside
each); table names carry ``{prefix}``, replaced by ``DIRECTORY__TABLE_PREFIX`` or the platform's
default prefix. A preset only fills the directory settings the operator did not set.

Presets whose accounts one INSERT cannot make correctly (extra rows in other tables, ids from a
sequence table, per-application ids) refuse registrations with `registration_refusal`.

Create-default values ``now``, ``uuid``, ``token32``, ``login``, ``email``, ``login_upper``,
``email_upper`` and ``login_slug`` are computed per row (sso_bridge.directory.sql).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final


@dataclass(frozen=True)
class Preset:
    source: str  # where the table and column names were read
    table: str
    key_column: str
    login_columns: tuple[str, ...]
    password_column: str
    new_password_scheme: str
    prefix: str | None = ""  # None: the platform picks one at install (the setting is required)
    salt_column: str | None = None
    email_column: str | None = None
    first_name_column: str | None = None
    last_name_column: str | None = None
    phone_column: str | None = None
    locale_column: str | None = None
    active_column: str | None = None
    blocked_column: str | None = None  # true means the account may not sign in
    password_prefer: tuple[str, ...] = ()
    joins: Mapping[str, str] = field(default_factory=dict)
    create_defaults: Mapping[str, Any] = field(default_factory=dict)
    registration_refusal: str | None = None  # why registrations are off; None: they work
    upgrade_refusal: str | None = None  # why the platform could not read an upgraded hash

    def settings(self, prefix: str) -> dict[str, Any]:
        """The directory settings this preset gives, table names under ``prefix``."""

        def named(value: str | None) -> str | None:
            return None if value is None else value.replace("{prefix}", prefix)

        return {
            "table": named(self.table),
            "key_column": self.key_column,
            "login_columns": tuple(named(c) or c for c in self.login_columns),
            "password_column": self.password_column,
            "salt_column": self.salt_column,
            "email_column": named(self.email_column),
            "first_name_column": named(self.first_name_column),
            "last_name_column": named(self.last_name_column),
            "phone_column": named(self.phone_column),
            "locale_column": named(self.locale_column),
            "active_column": named(self.active_column),
            "blocked_column": named(self.blocked_column),
            "new_password_scheme": self.new_password_scheme,
            "password_prefer": self.password_prefer,
            "joins": {named(t) or t: join for t, join in self.joins.items()},
            "create_defaults": {
                named(name) or name: named(value) if isinstance(value, str) else value
                for name, value in self.create_defaults.items()
            },
            "registrations": self.registration_refusal is None,
        }


_CAPABILITIES = "{prefix}usermeta[meta_key={prefix}capabilities].meta_value"
_WORDPRESS = Preset(
    source="WordPress wp-admin/includes/schema.php (wp_users, wp_usermeta)",
    table="{prefix}users",
    prefix="wp_",
    key_column="ID",
    login_columns=("user_login", "user_email"),
    password_column="user_pass",
    email_column="user_email",
    first_name_column="{prefix}usermeta[meta_key=first_name].meta_value",
    last_name_column="{prefix}usermeta[meta_key=last_name].meta_value",
    joins={"{prefix}usermeta": "user_id=ID"},
    new_password_scheme="wordpress",  # 6.8's $wp$ bcrypt
    create_defaults={
        "user_nicename": "login_slug",
        "display_name": "login",
        "user_registered": "now",
        "user_url": "",
        "user_activation_key": "",
        "user_status": 0,
        # The role wp_insert_user gives (the default_role option), as its usermeta rows.
        _CAPABILITIES: 'a:1:{s:10:"subscriber";b:1;}',
        "{prefix}usermeta[meta_key={prefix}user_level].meta_value": "0",
    },
)
# WooCommerce registers shoppers with its "customer" role (wc_create_new_customer).
_WOOCOMMERCE = replace(
    _WORDPRESS,
    create_defaults={
        **_WORDPRESS.create_defaults,
        _CAPABILITIES: 'a:1:{s:8:"customer";b:1;}',
    },
)

PRESETS: Final[Mapping[str, Preset]] = {
    "wordpress": _WORDPRESS,
    "woocommerce": _WOOCOMMERCE,
    "magento2": Preset(
        source="Magento 2 app/code/Magento/Customer/etc/db_schema.xml (customer_entity)",
        table="{prefix}customer_entity",
        key_column="entity_id",
        login_columns=("email",),
        password_column="password_hash",
        email_column="email",
        first_name_column="firstname",
        last_name_column="lastname",
        active_column="is_active",
        new_password_scheme="magento2",  # Argon2id13 where sodium has it, as Magento 2.4 writes
        create_defaults={
            "website_id": 1,
            "store_id": 1,
            "group_id": 1,
            "created_in": "Default Store View",
            "created_at": "now",
            "updated_at": "now",
            "disable_auto_group_change": 0,
        },
    ),
    "drupal7": Preset(
        source="Drupal 7 modules/user/user.install user_schema() (users)",
        table="{prefix}users",
        key_column="uid",
        login_columns=("name", "mail"),
        password_column="pass",
        email_column="mail",
        locale_column="language",
        active_column="status",
        new_password_scheme="bcrypt",  # unused: read-only
        registration_refusal="Drupal 7 takes user ids from its sequences table and roles "
        "from users_roles",
    ),
    "drupal": Preset(
        source="Drupal 8+ core/modules/user/src/UserStorageSchema.php, User entity "
        "(users_field_data)",
        table="{prefix}users_field_data",
        key_column="uid",
        login_columns=("name", "mail"),
        password_column="pass",
        email_column="mail",
        locale_column="preferred_langcode",
        active_column="status",
        new_password_scheme="bcrypt",  # unused: read-only
        registration_refusal="Drupal 8 and later need a row in users (uuid) and one in "
        "users_field_data",
    ),
    "django": Preset(
        source="Django django/contrib/auth/migrations/0001_initial.py and later (auth_user)",
        table="{prefix}auth_user",
        key_column="id",
        login_columns=("username", "email"),
        password_column="password",
        email_column="email",
        first_name_column="first_name",
        last_name_column="last_name",
        active_column="is_active",
        new_password_scheme="django_pbkdf2_sha256",  # Django 5.2's default, 1,000,000 rounds
        create_defaults={
            "is_superuser": False,
            "is_staff": False,
            "date_joined": "now",
            "first_name": "",
            "last_name": "",
        },
    ),
    "laravel": Preset(
        source="Laravel database/migrations/0001_01_01_000000_create_users_table.php (users)",
        table="{prefix}users",
        key_column="id",
        login_columns=("email",),
        password_column="password",
        email_column="email",
        first_name_column=None,
        last_name_column=None,
        active_column=None,
        new_password_scheme="bcrypt",  # Laravel's default hasher, BCRYPT_ROUNDS=12
        create_defaults={"name": "login", "created_at": "now", "updated_at": "now"},
    ),
    "shopware6": Preset(
        source="Shopware 6 src/Core/Migration/V6_3/Migration1536232960Customer.php (customer)",
        table="{prefix}customer",
        key_column="id",
        login_columns=("email",),
        password_column="password",
        email_column="email",
        first_name_column="first_name",
        last_name_column="last_name",
        active_column="active",
        blocked_column="guest",  # guest accounts have no password sign-in
        new_password_scheme="bcrypt",  # unused: read-only
        registration_refusal="Shopware 6 customers need a sales channel, a customer group, "
        "a payment method and address rows",
    ),
    "shopware5": Preset(
        source="Shopware 5 _sql/install/latest.sql (s_user)",
        table="s_user",
        key_column="id",
        login_columns=("email",),
        password_column="password",
        email_column="email",
        first_name_column="firstname",
        last_name_column="lastname",
        active_column="active",
        blocked_column="accountmode",  # 1: a guest account (no password sign-in)
        password_prefer=("joomla_md5",),  # Shopware's Md5 encoder: md5(password . salt):salt
        new_password_scheme="bcrypt",  # unused: read-only
        registration_refusal="Shopware 5 customers need address rows (s_user_addresses) and "
        "a customer number",
        upgrade_refusal="Shopware 5 picks its verifier from the encoder column, which an "
        "upgrade does not rewrite",
    ),
    "prestashop": Preset(
        source="PrestaShop install/data/db_structure.sql (ps_customer)",
        table="{prefix}customer",
        prefix="ps_",
        key_column="id_customer",
        login_columns=("email",),
        password_column="passwd",
        email_column="email",
        first_name_column="firstname",
        last_name_column="lastname",
        active_column="active",
        blocked_column="deleted",
        password_prefer=("prestashop_md5",),  # 1.6: md5(_COOKIE_KEY_ . password), the pepper
        new_password_scheme="bcrypt",  # 1.7+ Hashing::hash: password_hash(PASSWORD_BCRYPT)
        create_defaults={
            "id_shop_group": 1,
            "id_shop": 1,
            "id_gender": 0,
            "id_default_group": 3,  # "Customer"
            "id_lang": 1,
            "firstname": "",
            "lastname": "",
            "secure_key": "token32",
            "last_passwd_gen": "now",
            "date_add": "now",
            "date_upd": "now",
            "is_guest": 0,
            "deleted": 0,
            "newsletter": 0,
            "optin": 0,
        },
    ),
    "joomla": Preset(
        source="Joomla installation/sql/mysql/base.sql (#__users)",
        table="{prefix}users",
        prefix=None,  # random at install: configuration.php's $dbprefix
        key_column="id",
        login_columns=("username", "email"),
        password_column="password",
        email_column="email",
        first_name_column=None,  # one "name" column holds the full name
        last_name_column=None,
        blocked_column="block",
        password_prefer=("joomla_md5",),
        new_password_scheme="bcrypt",  # unused: read-only
        registration_refusal="Joomla users need a group row (#__user_usergroup_map) to sign in",
    ),
    "opencart": Preset(
        source="OpenCart install/opencart.sql (oc_customer)",
        table="{prefix}customer",
        prefix="oc_",
        key_column="customer_id",
        login_columns=("email",),
        password_column="password",
        salt_column="salt",
        email_column="email",
        first_name_column="firstname",
        last_name_column="lastname",
        phone_column="telephone",
        active_column="status",
        new_password_scheme="bcrypt",  # unused: read-only
        registration_refusal="OpenCart 3 checks only its salted SHA-1 (40 characters), "
        "which the bridge does not write",
        upgrade_refusal="OpenCart 3 checks only its salted SHA-1 (40 characters)",
    ),
    "aspnet_identity": Preset(
        source="ASP.NET Core Identity EF migration 00000000000000_CreateIdentitySchema.cs "
        "(AspNetUsers)",
        table="{prefix}AspNetUsers",
        key_column="Id",
        login_columns=("UserName", "Email"),
        password_column="PasswordHash",
        email_column="Email",
        first_name_column=None,
        last_name_column=None,
        phone_column="PhoneNumber",
        active_column=None,
        new_password_scheme="aspnet_identity_v3",  # HMAC-SHA512 (ASP.NET Core writes v3)
        create_defaults={
            "Id": "uuid",
            "NormalizedUserName": "login_upper",
            "NormalizedEmail": "email_upper",
            "SecurityStamp": "uuid",
            "ConcurrencyStamp": "uuid",
            "EmailConfirmed": False,
            "PhoneNumberConfirmed": False,
            "TwoFactorEnabled": False,
            "LockoutEnabled": True,
            "AccessFailedCount": 0,
        },
    ),
    "aspnet_membership": Preset(
        source="ASP.NET 2.0 aspnet_regsql InstallMembership.sql / InstallCommon.sql "
        "(aspnet_Membership, aspnet_Users)",
        table="{prefix}aspnet_Membership",
        key_column="UserId",
        login_columns=("{prefix}aspnet_Users.UserName", "Email"),
        password_column="Password",
        salt_column="PasswordSalt",
        email_column="Email",
        first_name_column=None,
        last_name_column=None,
        active_column="IsApproved",
        blocked_column="IsLockedOut",
        joins={"{prefix}aspnet_Users": "UserId=UserId"},
        new_password_scheme="bcrypt",  # unused: read-only
        registration_refusal="ASP.NET Membership users need an ApplicationId and a row in "
        "aspnet_Users",
    ),
}


def preset_names() -> str:
    return ", ".join(sorted(PRESETS))
