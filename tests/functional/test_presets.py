"""Platform presets end to end: each platform's own table, its own hashes, sign-in via POST /rum.

Each case builds the platform's user table with the column names of the platform's schema
(named beside it; only the columns' names, types and NOT NULL/defaults, none of its code), in a
fresh database: WordPress, Magento 2 and Shopware 6 on MariaDB, Django on PostgreSQL, the rest
on SQLite. Users carry hashes made by the platforms' own code (tests/vectors/php.json, named by
source) or, for Django and ASP.NET Identity, by Django's make_password and ASP.NET Core's
published test vectors. The bridge gets only DIRECTORY__URL and DIRECTORY__PRESET (and
PrestaShop 1.6's pepper).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import inspect, text

from sso_bridge import create_app
from sso_bridge.db import make_engine
from sso_bridge.directory.sql import SqlUserDirectory
from sso_bridge.invariants import merchant_findings
from sso_bridge.schema import upgrade
from sso_bridge.services import build_directory
from sso_bridge.settings import DirectorySettings, load_settings
from tests.django_hashers import hashers as django_hashers
from tests.helpers import (
    RUM_PASSWORD,
    RUM_USER,
    bridge_config,
    create_request,
    dr_login_request,
    leaf,
    profile_request,
    remember_secret,
    rum_answer,
)

VECTORS = Path(__file__).resolve().parent.parent / "vectors"
PHP_VECTORS = json.loads((VECTORS / "php.json").read_text())["vectors"]
PW = "correct horse battery staple"
UNICODE_PW = "pässwörd ✓ 密码"
XML = {
    "Authorization": "Basic " + base64.b64encode(f"{RUM_USER}:{RUM_PASSWORD}".encode()).decode(),
    "Content-Type": "text/xml; charset=utf-8",
}
ASPNET_TEST = "aspnetcore src/Identity/test/Identity.Test/PasswordHasherTest.cs"
# V3_SHA512_100000iter_128salt_256subkey (HashPassword_Version3), password "my password".
ASPNET_V3 = "AQAAAAIAAYagAAAAEAABAgMEBQYHCAkKCwwNDg/Q8A0WMKbtHQJQ2DHCdoEeeFBrgNlldq6vH4qX/CGqGQ=="
PRESTASHOP_PEPPER = next(v["pepper"] for v in PHP_VECTORS if v["scheme"] == "prestashop_md5")


def vector(scheme: str, source: str, password: str = PW) -> dict[str, Any]:
    """The php.json vector of ``scheme`` whose source starts with ``source``."""
    return next(
        v
        for v in PHP_VECTORS
        if v["scheme"] == scheme and v["source"].startswith(source) and v["password"] == password
    )


class _FastDjangoPBKDF2(django_hashers.PBKDF2PasswordHasher):
    iterations = 1000  # Django's own encoder, cheaper than its 1,000,000 default


DJANGO_HASH = django_hashers.make_password(UNICODE_PW, hasher=_FastDjangoPBKDF2())


@dataclass
class Account:
    login: str
    password: str
    signs_in: bool = True  # False: the platform's flag says inactive or blocked


@dataclass
class Platform:
    preset: str
    backend: str  # sqlite, mariadb or postgresql
    ddl: list[str]
    rows: list[tuple[str, dict[str, Any]]]
    accounts: list[Account]
    settings: dict[str, Any] = field(default_factory=dict)


# --- the platforms' tables --------------------------------------------------------------------

# WordPress wp-admin/includes/schema.php, $users_single_table and $usermeta_table.
WORDPRESS_DDL = [
    """CREATE TABLE wp_users (
      ID bigint(20) unsigned NOT NULL auto_increment,
      user_login varchar(60) NOT NULL default '',
      user_pass varchar(255) NOT NULL default '',
      user_nicename varchar(50) NOT NULL default '',
      user_email varchar(100) NOT NULL default '',
      user_url varchar(100) NOT NULL default '',
      user_registered datetime NOT NULL default '0000-00-00 00:00:00',
      user_activation_key varchar(255) NOT NULL default '',
      user_status int(11) NOT NULL default '0',
      display_name varchar(250) NOT NULL default '',
      PRIMARY KEY (ID), KEY user_login_key (user_login), KEY user_nicename (user_nicename),
      KEY user_email (user_email)
    ) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci""",
    """CREATE TABLE wp_usermeta (
      umeta_id bigint(20) unsigned NOT NULL auto_increment,
      user_id bigint(20) unsigned NOT NULL default '0',
      meta_key varchar(255) default NULL,
      meta_value longtext,
      PRIMARY KEY (umeta_id), KEY user_id (user_id), KEY meta_key (meta_key(191))
    ) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci""",
]
WP_USER = (
    "INSERT INTO wp_users (ID, user_login, user_pass, user_nicename, user_email, user_registered,"
    " display_name) VALUES (:id, :login, :hash, :login, :email, '2025-01-01 00:00:00', :login)"
)
WP_META = "INSERT INTO wp_usermeta (user_id, meta_key, meta_value) VALUES (:id, :key, :value)"

# Magento 2 app/code/Magento/Customer/etc/db_schema.xml, table customer_entity.
MAGENTO_DDL = [
    """CREATE TABLE customer_entity (
      entity_id int unsigned NOT NULL AUTO_INCREMENT,
      website_id smallint unsigned DEFAULT NULL,
      email varchar(255) DEFAULT NULL,
      group_id smallint unsigned NOT NULL DEFAULT 0,
      increment_id varchar(50) DEFAULT NULL,
      store_id smallint unsigned DEFAULT 0,
      created_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
      updated_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
      is_active smallint unsigned NOT NULL DEFAULT 1,
      disable_auto_group_change smallint unsigned NOT NULL DEFAULT 0,
      created_in varchar(255) DEFAULT NULL,
      prefix varchar(40) DEFAULT NULL,
      firstname varchar(255) DEFAULT NULL,
      middlename varchar(255) DEFAULT NULL,
      lastname varchar(255) DEFAULT NULL,
      suffix varchar(40) DEFAULT NULL,
      dob date DEFAULT NULL,
      password_hash varchar(128) DEFAULT NULL,
      rp_token varchar(128) DEFAULT NULL,
      rp_token_created_at datetime DEFAULT NULL,
      default_billing int unsigned DEFAULT NULL,
      default_shipping int unsigned DEFAULT NULL,
      taxvat varchar(50) DEFAULT NULL,
      confirmation varchar(64) DEFAULT NULL,
      gender smallint unsigned DEFAULT NULL,
      failures_num smallint DEFAULT 0,
      first_failure timestamp NULL DEFAULT NULL,
      lock_expires timestamp NULL DEFAULT NULL,
      session_cutoff timestamp NULL DEFAULT NULL,
      PRIMARY KEY (entity_id),
      UNIQUE KEY CUSTOMER_ENTITY_EMAIL_WEBSITE_ID (email, website_id)
    )"""
]
MAGENTO_ROW = (
    "INSERT INTO customer_entity (entity_id, website_id, email, firstname, lastname,"
    " password_hash, is_active) VALUES (:id, 1, :email, 'Ann', 'Lee', :hash, :active)"
)

# Drupal 7 modules/user/user.install, user_schema() 'users'.
DRUPAL7_DDL = [
    """CREATE TABLE users (
      uid int NOT NULL DEFAULT 0 PRIMARY KEY,
      name varchar(60) NOT NULL DEFAULT '' UNIQUE,
      pass varchar(128) NOT NULL DEFAULT '',
      mail varchar(254) DEFAULT '',
      theme varchar(255) NOT NULL DEFAULT '',
      signature varchar(255) NOT NULL DEFAULT '',
      signature_format varchar(255) DEFAULT NULL,
      created int NOT NULL DEFAULT 0,
      access int NOT NULL DEFAULT 0,
      login int NOT NULL DEFAULT 0,
      status tinyint NOT NULL DEFAULT 0,
      timezone varchar(32) DEFAULT NULL,
      language varchar(12) NOT NULL DEFAULT '',
      picture int NOT NULL DEFAULT 0,
      init varchar(254) DEFAULT '',
      data blob
    )"""
]
DRUPAL7_ROW = (
    "INSERT INTO users (uid, name, pass, mail, status, language)"
    " VALUES (:id, :name, :hash, :mail, :status, 'en')"
)

# Drupal 8+ core/modules/user: User::baseFieldDefinitions, stored by UserStorageSchema in
# users (uid, uuid, langcode) and users_field_data.
DRUPAL_DDL = [
    """CREATE TABLE users (
      uid integer NOT NULL PRIMARY KEY, uuid varchar(128) NOT NULL, langcode varchar(12) NOT NULL
    )""",
    """CREATE TABLE users_field_data (
      uid integer NOT NULL,
      langcode varchar(12) NOT NULL,
      preferred_langcode varchar(12) DEFAULT NULL,
      preferred_admin_langcode varchar(12) DEFAULT NULL,
      name varchar(60) NOT NULL,
      pass varchar(255) DEFAULT NULL,
      mail varchar(254) DEFAULT NULL,
      timezone varchar(32) DEFAULT NULL,
      status tinyint DEFAULT NULL,
      created int NOT NULL,
      changed int DEFAULT NULL,
      access int NOT NULL,
      login int DEFAULT NULL,
      init varchar(254) DEFAULT NULL,
      default_langcode tinyint NOT NULL,
      PRIMARY KEY (uid, langcode)
    )""",
]
DRUPAL_ROW = (
    "INSERT INTO users_field_data (uid, langcode, preferred_langcode, name, pass, mail, status,"
    " created, access, default_langcode) VALUES (:id, 'en', 'de', :name, :hash, :mail, :status,"
    " 0, 0, 1)"
)

# Django django/contrib/auth/migrations/0001_initial.py (+ 0008, 0012): auth_user, as its
# PostgreSQL schema editor creates it.
DJANGO_DDL = [
    """CREATE TABLE auth_user (
      id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
      password varchar(128) NOT NULL,
      last_login timestamp with time zone NULL,
      is_superuser boolean NOT NULL,
      username varchar(150) NOT NULL UNIQUE,
      first_name varchar(150) NOT NULL,
      last_name varchar(150) NOT NULL,
      email varchar(254) NOT NULL,
      is_staff boolean NOT NULL,
      is_active boolean NOT NULL,
      date_joined timestamp with time zone NOT NULL
    )"""
]
DJANGO_ROW = (
    "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email,"
    " is_staff, is_active, date_joined) VALUES (:hash, false, :name, 'Ann', 'Lee', :mail, false,"
    " :active, now())"
)

# Laravel database/migrations/0001_01_01_000000_create_users_table.php (SQLite grammar).
LARAVEL_DDL = [
    """CREATE TABLE users (
      id integer PRIMARY KEY AUTOINCREMENT NOT NULL,
      name varchar NOT NULL,
      email varchar NOT NULL UNIQUE,
      email_verified_at datetime,
      password varchar NOT NULL,
      remember_token varchar,
      created_at datetime,
      updated_at datetime
    )"""
]
LARAVEL_ROW = "INSERT INTO users (name, email, password) VALUES ('Ann Lee', :mail, :hash)"

# Shopware 6 src/Core/Migration/V6_3/Migration1536232960Customer.php: customer (its NOT NULL
# foreign keys kept as plain binary columns).
SHOPWARE6_DDL = [
    """CREATE TABLE customer (
      id BINARY(16) NOT NULL PRIMARY KEY,
      customer_group_id BINARY(16) NOT NULL,
      default_payment_method_id BINARY(16) NOT NULL,
      sales_channel_id BINARY(16) NOT NULL,
      language_id BINARY(16) NOT NULL,
      default_billing_address_id BINARY(16) NOT NULL,
      default_shipping_address_id BINARY(16) NOT NULL,
      customer_number VARCHAR(255) NOT NULL,
      salutation_id BINARY(16),
      first_name VARCHAR(255) NOT NULL,
      last_name VARCHAR(255) NOT NULL,
      email VARCHAR(254) NOT NULL,
      password VARCHAR(1024) NULL,
      legacy_password VARCHAR(255) NULL,
      legacy_encoder VARCHAR(255) NULL,
      active TINYINT(1) NOT NULL DEFAULT 1,
      guest TINYINT(1) NOT NULL DEFAULT 0,
      created_at DATETIME(3) NOT NULL
    )"""
]
SHOPWARE6_ROW = (
    "INSERT INTO customer (id, customer_group_id, default_payment_method_id, sales_channel_id,"
    " language_id, default_billing_address_id, default_shipping_address_id, customer_number,"
    " first_name, last_name, email, password, active, guest, created_at) VALUES (:id, :z, :z,"
    " :z, :z, :z, :z, '10001', 'Ann', 'Lee', :mail, :hash, :active, :guest,"
    " '2025-01-01 00:00:00')"
)

# Shopware 5 _sql/install/latest.sql: s_user.
SHOPWARE5_DDL = [
    """CREATE TABLE s_user (
      id integer PRIMARY KEY AUTOINCREMENT,
      password varchar(255) NOT NULL,
      encoder varchar(255) NOT NULL DEFAULT 'md5',
      email varchar(70) NOT NULL,
      active int(1) NOT NULL DEFAULT 0,
      accountmode int(11) NOT NULL,
      confirmationkey varchar(100) NOT NULL,
      paymentID int(11) NOT NULL DEFAULT 0,
      firstlogin date DEFAULT NULL,
      lastlogin datetime DEFAULT NULL,
      sessionID varchar(128) NOT NULL DEFAULT '',
      newsletter int(1) NOT NULL DEFAULT 0,
      validation varchar(255) NOT NULL DEFAULT '0',
      affiliate int(10) NOT NULL DEFAULT 0,
      customergroup varchar(15) NOT NULL,
      paymentpreset int(11) NOT NULL,
      language varchar(10) NOT NULL,
      subshopID int(11) NOT NULL,
      referer varchar(255) NOT NULL,
      pricegroupID int unsigned DEFAULT NULL,
      internalcomment mediumtext NOT NULL,
      failedlogins int(11) NOT NULL,
      lockeduntil datetime DEFAULT NULL,
      salutation varchar(30) DEFAULT NULL,
      title varchar(100) DEFAULT NULL,
      firstname varchar(255) DEFAULT NULL,
      lastname varchar(255) DEFAULT NULL,
      birthday date DEFAULT NULL,
      customernumber varchar(30) DEFAULT NULL
    )"""
]
SHOPWARE5_ROW = (
    "INSERT INTO s_user (password, encoder, email, active, accountmode, confirmationkey,"
    " customergroup, paymentpreset, language, subshopID, referer, internalcomment, failedlogins,"
    " firstname, lastname) VALUES (:hash, :encoder, :mail, :active, :mode, '', 'EK', 0, '1', 1,"
    " '', '', 0, 'Ann', 'Lee')"
)

# PrestaShop install/data/db_structure.sql: PREFIX_customer (SQLite: no display widths on
# unsigned integers).
PRESTASHOP_DDL = [
    """CREATE TABLE ps_customer (
      id_customer integer PRIMARY KEY AUTOINCREMENT,
      id_shop_group int unsigned NOT NULL DEFAULT '1',
      id_shop int unsigned NOT NULL DEFAULT '1',
      id_gender int unsigned NOT NULL,
      id_default_group int unsigned NOT NULL DEFAULT '1',
      id_lang int unsigned NULL,
      id_risk int unsigned NOT NULL DEFAULT '1',
      company varchar(255),
      siret varchar(14),
      ape varchar(6),
      firstname varchar(255) NOT NULL,
      lastname varchar(255) NOT NULL,
      email varchar(255) NOT NULL,
      passwd varchar(255) NOT NULL,
      last_passwd_gen timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
      birthday date DEFAULT NULL,
      newsletter tinyint unsigned NOT NULL DEFAULT '0',
      ip_registration_newsletter varchar(15) DEFAULT NULL,
      newsletter_date_add datetime DEFAULT NULL,
      optin tinyint unsigned NOT NULL DEFAULT '0',
      website varchar(128),
      outstanding_allow_amount DECIMAL(20, 6) NOT NULL DEFAULT '0.00',
      show_public_prices tinyint unsigned NOT NULL DEFAULT '0',
      max_payment_days int unsigned NOT NULL DEFAULT '60',
      secure_key varchar(32) NOT NULL DEFAULT '-1',
      note text,
      active tinyint unsigned NOT NULL DEFAULT '0',
      is_guest tinyint(1) NOT NULL DEFAULT '0',
      deleted tinyint(1) NOT NULL DEFAULT '0',
      date_add datetime NOT NULL,
      date_upd datetime NOT NULL,
      reset_password_token varchar(40) DEFAULT NULL,
      reset_password_validity datetime DEFAULT NULL
    )"""
]
PRESTASHOP_ROW = (
    "INSERT INTO ps_customer (id_gender, firstname, lastname, email, passwd, active, deleted,"
    " date_add, date_upd) VALUES (1, 'Ann', 'Lee', :mail, :hash, :active, :deleted,"
    " '2025-01-01', '2025-01-01')"
)

# Joomla installation/sql/mysql/base.sql: #__users (here with the prefix abcde_).
JOOMLA_DDL = [
    """CREATE TABLE abcde_users (
      id integer PRIMARY KEY AUTOINCREMENT,
      name varchar(400) NOT NULL DEFAULT '',
      username varchar(150) NOT NULL DEFAULT '',
      email varchar(100) NOT NULL DEFAULT '',
      password varchar(100) NOT NULL DEFAULT '',
      block tinyint NOT NULL DEFAULT 0,
      sendEmail tinyint DEFAULT 0,
      registerDate datetime NOT NULL,
      lastvisitDate datetime,
      activation varchar(100) NOT NULL DEFAULT '',
      params mediumtext NOT NULL,
      lastResetTime datetime,
      resetCount int NOT NULL DEFAULT 0,
      otpKey varchar(1000) NOT NULL DEFAULT '',
      otep varchar(1000) NOT NULL DEFAULT '',
      requireReset tinyint NOT NULL DEFAULT 0,
      authProvider varchar(100) NOT NULL DEFAULT ''
    )"""
]
JOOMLA_ROW = (
    "INSERT INTO abcde_users (name, username, email, password, block, registerDate, params)"
    " VALUES ('Ann Lee', :name, :mail, :hash, :block, '2025-01-01 00:00:00', '{}')"
)

# OpenCart 3 install/opencart.sql: oc_customer.
OPENCART_DDL = [
    """CREATE TABLE oc_customer (
      customer_id integer PRIMARY KEY AUTOINCREMENT,
      customer_group_id int(11) NOT NULL,
      store_id int(11) NOT NULL DEFAULT '0',
      language_id int(11) NOT NULL,
      firstname varchar(32) NOT NULL,
      lastname varchar(32) NOT NULL,
      email varchar(96) NOT NULL,
      telephone varchar(32) NOT NULL,
      fax varchar(32) NOT NULL,
      password varchar(40) NOT NULL,
      salt varchar(9) NOT NULL,
      cart text,
      wishlist text,
      newsletter tinyint(1) NOT NULL DEFAULT '0',
      address_id int(11) NOT NULL DEFAULT '0',
      custom_field text NOT NULL,
      ip varchar(40) NOT NULL,
      status tinyint(1) NOT NULL,
      safe tinyint(1) NOT NULL,
      token text NOT NULL,
      code varchar(40) NOT NULL,
      date_added datetime NOT NULL
    )"""
]
OPENCART_ROW = (
    "INSERT INTO oc_customer (customer_group_id, language_id, firstname, lastname, email,"
    " telephone, fax, password, salt, custom_field, ip, status, safe, token, code, date_added)"
    " VALUES (1, 1, 'Ann', 'Lee', :mail, '555-0100', '', :hash, :salt, '', '', :status, 0, '',"
    " '', '2025-01-01 00:00:00')"
)

# ASP.NET Core Identity's EF migration 00000000000000_CreateIdentitySchema.cs: AspNetUsers.
ASPNET_IDENTITY_DDL = [
    """CREATE TABLE AspNetUsers (
      Id nvarchar(450) NOT NULL PRIMARY KEY,
      UserName nvarchar(256) NULL,
      NormalizedUserName nvarchar(256) NULL,
      Email nvarchar(256) NULL,
      NormalizedEmail nvarchar(256) NULL,
      EmailConfirmed bit NOT NULL,
      PasswordHash nvarchar(4000) NULL,
      SecurityStamp nvarchar(4000) NULL,
      ConcurrencyStamp nvarchar(4000) NULL,
      PhoneNumber nvarchar(4000) NULL,
      PhoneNumberConfirmed bit NOT NULL,
      TwoFactorEnabled bit NOT NULL,
      LockoutEnd datetimeoffset NULL,
      LockoutEnabled bit NOT NULL,
      AccessFailedCount int NOT NULL
    )"""
]
ASPNET_IDENTITY_ROW = (
    "INSERT INTO AspNetUsers (Id, UserName, NormalizedUserName, Email, NormalizedEmail,"
    " EmailConfirmed, PasswordHash, PhoneNumberConfirmed, TwoFactorEnabled, LockoutEnabled,"
    " AccessFailedCount) VALUES ('4f1c', :name, upper(:name), :mail, upper(:mail), 1, :hash, 0,"
    " 0, 1, 0)"
)

# ASP.NET 2.0 aspnet_regsql: InstallCommon.sql (aspnet_Users), InstallMembership.sql
# (aspnet_Membership).
ASPNET_MEMBERSHIP_DDL = [
    """CREATE TABLE aspnet_Users (
      ApplicationId uniqueidentifier NOT NULL,
      UserId uniqueidentifier NOT NULL PRIMARY KEY,
      UserName nvarchar(256) NOT NULL,
      LoweredUserName nvarchar(256) NOT NULL,
      MobileAlias nvarchar(16) DEFAULT NULL,
      IsAnonymous bit NOT NULL DEFAULT 0,
      LastActivityDate datetime NOT NULL
    )""",
    """CREATE TABLE aspnet_Membership (
      ApplicationId uniqueidentifier NOT NULL,
      UserId uniqueidentifier NOT NULL PRIMARY KEY,
      Password nvarchar(128) NOT NULL,
      PasswordFormat int NOT NULL DEFAULT 0,
      PasswordSalt nvarchar(128) NOT NULL,
      MobilePIN nvarchar(16),
      Email nvarchar(256),
      LoweredEmail nvarchar(256),
      PasswordQuestion nvarchar(256),
      PasswordAnswer nvarchar(128),
      IsApproved bit NOT NULL,
      IsLockedOut bit NOT NULL,
      CreateDate datetime NOT NULL,
      LastLoginDate datetime NOT NULL,
      LastPasswordChangedDate datetime NOT NULL,
      LastLockoutDate datetime NOT NULL,
      FailedPasswordAttemptCount int NOT NULL,
      FailedPasswordAttemptWindowStart datetime NOT NULL,
      FailedPasswordAnswerAttemptCount int NOT NULL,
      FailedPasswordAnswerAttemptWindowStart datetime NOT NULL,
      Comment ntext
    )""",
]
MEMBERSHIP_USER = (
    "INSERT INTO aspnet_Users (ApplicationId, UserId, UserName, LoweredUserName,"
    " LastActivityDate) VALUES ('app', :id, :name, lower(:name), '2025-01-01')"
)
MEMBERSHIP_ROW = (
    "INSERT INTO aspnet_Membership (ApplicationId, UserId, Password, PasswordFormat,"
    " PasswordSalt, Email, LoweredEmail, IsApproved, IsLockedOut, CreateDate, LastLoginDate,"
    " LastPasswordChangedDate, LastLockoutDate, FailedPasswordAttemptCount,"
    " FailedPasswordAttemptWindowStart, FailedPasswordAnswerAttemptCount,"
    " FailedPasswordAnswerAttemptWindowStart) VALUES ('app', :id, :hash, 1, :salt, :mail,"
    " lower(:mail), :approved, :locked, '2025-01-01', '2025-01-01', '2025-01-01', '2025-01-01',"
    " 0, '2025-01-01', 0, '2025-01-01')"
)

WP_68 = vector("wordpress", "WordPress 6.8 pluggable.php wp_hash_password (cost 5")
WP_68_UNICODE = vector("wordpress", "WordPress 6.8", UNICODE_PW)
MAGENTO_ARGON = vector("magento2", "Magento 2 Encryptor::getHash version 3")
MAGENTO_SHA256 = vector("magento2", "Magento 2 Encryptor::getHash version 1", UNICODE_PW)
DRUPAL_SHA512 = vector("drupal7_sha512", "Drupal 7 password.inc user_hash_password", UNICODE_PW)
DRUPAL_UPP = vector("drupal7_md5_phpass", "Drupal 7 password.inc")
PHP_BCRYPT = vector("bcrypt", "OpenCart 4")  # PHP's password_hash: Laravel's Hash::make too
SHOPWARE6_BCRYPT = vector("bcrypt", "Shopware 5 Encoder/Bcrypt.php", UNICODE_PW)
SHOPWARE5_SHA256 = vector("shopware5_sha256", "Shopware 5 Encoder/Sha256.php")
SHOPWARE5_MD5 = vector("joomla_md5", "Shopware 5 Encoder/Md5.php isPasswordValid", UNICODE_PW)
PRESTASHOP_16 = vector("prestashop_md5", "PrestaShop 1.6")
PRESTASHOP_17 = vector("bcrypt", "PrestaShop 1.7", UNICODE_PW)
JOOMLA_BCRYPT = vector("bcrypt", "Joomla 3/4")
JOOMLA_MD5 = vector("joomla_md5", "Joomla 1.5-3", UNICODE_PW)
OPENCART_SHA1 = vector("opencart_sha1", "OpenCart 2/3")
MEMBERSHIP_SHA1 = vector("aspnet_membership", "ASP.NET SqlMembershipProvider.EncodePassword (sha1)")
MEMBERSHIP_SHA256 = vector(
    "aspnet_membership", "ASP.NET SqlMembershipProvider.EncodePassword (sha256)", UNICODE_PW
)
ZERO = bytes(16)

PLATFORMS = [
    Platform(
        "woocommerce",
        "mariadb",
        WORDPRESS_DDL,
        [
            (WP_USER, {"id": 1, "login": "ann", "email": "ann@shop.test", "hash": WP_68["hash"]}),
            (WP_META, {"id": 1, "key": "first_name", "value": "Ann"}),
            (WP_META, {"id": 1, "key": "last_name", "value": "Lee"}),
            (WP_META, {"id": 1, "key": "nickname", "value": "annie"}),
            (
                WP_USER,
                {"id": 2, "login": "bo", "email": "bo@shop.test", "hash": WP_68_UNICODE["hash"]},
            ),
        ],
        [Account("ann", PW), Account("bo@shop.test", UNICODE_PW)],
    ),
    Platform(
        "magento2",
        "mariadb",
        MAGENTO_DDL,
        [
            (
                MAGENTO_ROW,
                {"id": 1, "email": "ann@shop.test", "hash": MAGENTO_ARGON["hash"], "active": 1},
            ),
            (
                MAGENTO_ROW,
                {"id": 2, "email": "bo@shop.test", "hash": MAGENTO_SHA256["hash"], "active": 1},
            ),
            (
                MAGENTO_ROW,
                {"id": 3, "email": "cy@shop.test", "hash": MAGENTO_SHA256["hash"], "active": 0},
            ),
        ],
        [
            Account("ann@shop.test", PW),
            Account("bo@shop.test", UNICODE_PW),
            Account("cy@shop.test", UNICODE_PW, signs_in=False),
        ],
    ),
    Platform(
        "drupal7",
        "sqlite",
        DRUPAL7_DDL,
        [
            (
                DRUPAL7_ROW,
                {
                    "id": 1,
                    "name": "ann",
                    "mail": "ann@shop.test",
                    "hash": DRUPAL_SHA512["hash"],
                    "status": 1,
                },
            ),
            (
                DRUPAL7_ROW,
                {
                    "id": 2,
                    "name": "bo",
                    "mail": "bo@shop.test",
                    "hash": DRUPAL_UPP["hash"],
                    "status": 1,
                },
            ),
            (
                DRUPAL7_ROW,
                {
                    "id": 3,
                    "name": "cy",
                    "mail": "cy@shop.test",
                    "hash": DRUPAL_UPP["hash"],
                    "status": 0,
                },
            ),
        ],
        [
            Account("ann", UNICODE_PW),
            Account("bo@shop.test", PW),
            Account("cy", PW, signs_in=False),
        ],
    ),
    Platform(
        "drupal",
        "sqlite",
        DRUPAL_DDL,
        [
            (
                DRUPAL_ROW,
                {
                    "id": 1,
                    "name": "ann",
                    "mail": "ann@shop.test",
                    "hash": DRUPAL_SHA512["hash"],
                    "status": 1,
                },
            ),
            (
                DRUPAL_ROW,
                {
                    "id": 2,
                    "name": "cy",
                    "mail": "cy@shop.test",
                    "hash": DRUPAL_SHA512["hash"],
                    "status": 0,
                },
            ),
        ],
        [Account("ann@shop.test", UNICODE_PW), Account("cy", UNICODE_PW, signs_in=False)],
    ),
    Platform(
        "django",
        "postgresql",
        DJANGO_DDL,
        [
            (
                DJANGO_ROW,
                {"hash": DJANGO_HASH, "name": "ann", "mail": "ann@shop.test", "active": True},
            ),
            (
                DJANGO_ROW,
                {"hash": DJANGO_HASH, "name": "cy", "mail": "cy@shop.test", "active": False},
            ),
        ],
        [Account("ann", UNICODE_PW), Account("cy@shop.test", UNICODE_PW, signs_in=False)],
    ),
    Platform(
        "laravel",
        "sqlite",
        LARAVEL_DDL,
        [(LARAVEL_ROW, {"mail": "ann@shop.test", "hash": PHP_BCRYPT["hash"]})],
        [Account("ann@shop.test", PW)],
    ),
    Platform(
        "shopware6",
        "mariadb",
        SHOPWARE6_DDL,
        [
            (
                SHOPWARE6_ROW,
                {
                    "id": bytes.fromhex("0a" * 16),
                    "z": ZERO,
                    "mail": "ann@shop.test",
                    "hash": SHOPWARE6_BCRYPT["hash"],
                    "active": 1,
                    "guest": 0,
                },
            ),
            (
                SHOPWARE6_ROW,
                {
                    "id": bytes.fromhex("0b" * 16),
                    "z": ZERO,
                    "mail": "cy@shop.test",
                    "hash": SHOPWARE6_BCRYPT["hash"],
                    "active": 0,
                    "guest": 0,
                },
            ),
        ],
        [Account("ann@shop.test", UNICODE_PW), Account("cy@shop.test", UNICODE_PW, signs_in=False)],
    ),
    Platform(
        "shopware5",
        "sqlite",
        SHOPWARE5_DDL,
        [
            (
                SHOPWARE5_ROW,
                {
                    "hash": SHOPWARE5_SHA256["hash"],
                    "encoder": "sha256",
                    "mail": "ann@shop.test",
                    "active": 1,
                    "mode": 0,
                },
            ),
            (
                SHOPWARE5_ROW,
                {
                    "hash": SHOPWARE5_MD5["hash"],
                    "encoder": "md5",
                    "mail": "bo@shop.test",
                    "active": 1,
                    "mode": 0,
                },
            ),
            (
                SHOPWARE5_ROW,
                {
                    "hash": SHOPWARE5_MD5["hash"],
                    "encoder": "md5",
                    "mail": "cy@shop.test",
                    "active": 1,
                    "mode": 1,
                },
            ),
        ],
        [
            Account("ann@shop.test", PW),
            Account("bo@shop.test", UNICODE_PW),
            Account("cy@shop.test", UNICODE_PW, signs_in=False),  # a guest account
        ],
    ),
    Platform(
        "prestashop",
        "sqlite",
        PRESTASHOP_DDL,
        [
            (
                PRESTASHOP_ROW,
                {"mail": "ann@shop.test", "hash": PRESTASHOP_16["hash"], "active": 1, "deleted": 0},
            ),
            (
                PRESTASHOP_ROW,
                {"mail": "bo@shop.test", "hash": PRESTASHOP_17["hash"], "active": 1, "deleted": 0},
            ),
            (
                PRESTASHOP_ROW,
                {"mail": "cy@shop.test", "hash": PRESTASHOP_17["hash"], "active": 1, "deleted": 1},
            ),
        ],
        [
            Account("ann@shop.test", PW),
            Account("bo@shop.test", UNICODE_PW),
            Account("cy@shop.test", UNICODE_PW, signs_in=False),
        ],
        {"PEPPER": PRESTASHOP_PEPPER},
    ),
    Platform(
        "joomla",
        "sqlite",
        JOOMLA_DDL,
        [
            (
                JOOMLA_ROW,
                {"name": "ann", "mail": "ann@shop.test", "hash": JOOMLA_BCRYPT["hash"], "block": 0},
            ),
            (
                JOOMLA_ROW,
                {"name": "bo", "mail": "bo@shop.test", "hash": JOOMLA_MD5["hash"], "block": 0},
            ),
            (
                JOOMLA_ROW,
                {"name": "cy", "mail": "cy@shop.test", "hash": JOOMLA_MD5["hash"], "block": 1},
            ),
        ],
        [
            Account("ann", PW),
            Account("bo@shop.test", UNICODE_PW),
            Account("cy", UNICODE_PW, signs_in=False),
        ],
        {"TABLE_PREFIX": "abcde_"},
    ),
    Platform(
        "opencart",
        "sqlite",
        OPENCART_DDL,
        [
            (
                OPENCART_ROW,
                {
                    "mail": "ann@shop.test",
                    "hash": OPENCART_SHA1["hash"],
                    "salt": OPENCART_SHA1["salt"],
                    "status": 1,
                },
            ),
            (
                OPENCART_ROW,
                {
                    "mail": "cy@shop.test",
                    "hash": OPENCART_SHA1["hash"],
                    "salt": OPENCART_SHA1["salt"],
                    "status": 0,
                },
            ),
        ],
        [Account("ann@shop.test", PW), Account("cy@shop.test", PW, signs_in=False)],
    ),
    Platform(
        "aspnet_identity",
        "sqlite",
        ASPNET_IDENTITY_DDL,
        [(ASPNET_IDENTITY_ROW, {"name": "ann", "mail": "ann@shop.test", "hash": ASPNET_V3})],
        [Account("ann", "my password"), Account("ann@shop.test", "my password")],
    ),
    Platform(
        "aspnet_membership",
        "sqlite",
        ASPNET_MEMBERSHIP_DDL,
        [
            (MEMBERSHIP_USER, {"id": "u1", "name": "ann"}),
            (
                MEMBERSHIP_ROW,
                {
                    "id": "u1",
                    "hash": MEMBERSHIP_SHA1["hash"],
                    "salt": MEMBERSHIP_SHA1["salt"],
                    "mail": "ann@shop.test",
                    "approved": 1,
                    "locked": 0,
                },
            ),
            (MEMBERSHIP_USER, {"id": "u2", "name": "bo"}),
            (
                MEMBERSHIP_ROW,
                {
                    "id": "u2",
                    "hash": MEMBERSHIP_SHA256["hash"],
                    "salt": MEMBERSHIP_SHA256["salt"],
                    "mail": "bo@shop.test",
                    "approved": 1,
                    "locked": 0,
                },
            ),
            (MEMBERSHIP_USER, {"id": "u3", "name": "cy"}),
            (
                MEMBERSHIP_ROW,
                {
                    "id": "u3",
                    "hash": MEMBERSHIP_SHA256["hash"],
                    "salt": MEMBERSHIP_SHA256["salt"],
                    "mail": "cy@shop.test",
                    "approved": 1,
                    "locked": 1,
                },
            ),
        ],
        [
            Account("ann", PW),
            Account("bo@shop.test", UNICODE_PW),
            Account("cy", UNICODE_PW, signs_in=False),
        ],
    ),
]
BY_PRESET = {platform.preset: platform for platform in PLATFORMS}


# --- harness --------------------------------------------------------------------------------


def merchant_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database of its own for the platform's tables."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'shop.sqlite3'}"
    if backend == "postgresql":
        return str(request.getfixturevalue("postgres_database")())
    return str(request.getfixturevalue("mariadb_database")())


def shop(
    platform: Platform, request: pytest.FixtureRequest, tmp_path: Path
) -> tuple[FlaskClient, str]:
    url = merchant_url(platform.backend, request, tmp_path)
    with make_engine(url).begin() as connection:
        for statement in platform.ddl:
            connection.execute(text(statement))
        for statement, values in platform.rows:
            connection.execute(text(statement), values)
    bridge = f"sqlite:///{tmp_path / 'bridge.sqlite3'}"
    upgrade(make_engine(bridge))
    config = bridge_config(merchant_url=url, bridge_url=bridge)
    for value in platform.settings.values():
        remember_secret(str(value))  # the pepper must never reach a log line
    config["DIRECTORY"] = {"URL": url, "PRESET": platform.preset, **platform.settings}
    return create_app(config).test_client(), url


def rum(client: FlaskClient, body: bytes) -> ET.Element:
    return rum_answer(client, body, XML)


def signs_in(client: FlaskClient, login: str, password: str) -> bool:
    return leaf(rum(client, dr_login_request(login, password)), "successful") == "true"


def wrong(password: str) -> str:
    return password[:-1] + ("#" if password[-1] != "#" else "!")


# --- sign-in ----------------------------------------------------------------------------------


@pytest.mark.parametrize("platform", PLATFORMS, ids=lambda p: p.preset)
def test_platform_users_sign_in_with_only_the_url_and_the_preset(
    platform: Platform, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    client, _ = shop(platform, request, tmp_path)
    for account in platform.accounts:
        assert signs_in(client, account.login, account.password) is account.signs_in, account
        assert signs_in(client, account.login, wrong(account.password)) is False, account
    assert signs_in(client, "nobody@shop.test", PW) is False


def test_wordpress_profile_has_the_usermeta_names(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    client, _ = shop(BY_PRESET["woocommerce"], request, tmp_path)
    assert signs_in(client, "ann", PW)
    profile = rum(client, profile_request(login="ann"))
    assert leaf(profile, "userInfo/firstName") == "Ann"
    assert leaf(profile, "userInfo/lastName") == "Lee"
    assert leaf(profile, "userInfo/email") == "ann@shop.test"
    unnamed = rum(client, profile_request(login="bo"))  # no usermeta rows: no names, still found
    assert leaf(unnamed, "userInfo/email") == "bo@shop.test"
    assert leaf(unnamed, "userInfo/firstName") in (None, "")


def test_prestashop_1_6_hashes_need_the_pepper(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    without = Platform(**{**BY_PRESET["prestashop"].__dict__, "settings": {}})
    client, _ = shop(without, request, tmp_path)
    assert signs_in(client, "ann@shop.test", PW) is False  # md5(_COOKIE_KEY_ . password)
    assert signs_in(client, "bo@shop.test", UNICODE_PW)  # 1.7's bcrypt needs none


# --- registration -----------------------------------------------------------------------------


def php_accepts(scheme: str, password: str, stored: str) -> bool:
    php = shutil.which("php")
    assert php is not None, "php is missing: run scripts/test, or apt-get install php-cli"
    done = subprocess.run(
        [php, str(VECTORS / "verify.php")],
        input=json.dumps([{"scheme": scheme, "password": password, "hash": stored}]),
        capture_output=True,
        text=True,
        check=True,
    )
    return bool(json.loads(done.stdout)[0])


def aspnet_v3_accepts(password: str, stored: str) -> bool:
    """ASP.NET Core's PasswordHasher.VerifyHashedPasswordV3, from its documented layout (no .NET
    here): 0x01, PRF (1 = HMAC-SHA256, 2 = HMAC-SHA512), iterations and salt length as big-endian
    uint32, salt, subkey; PBKDF2 by hashlib, independently of the bridge's verifier."""
    blob = base64.b64decode(stored)
    prf, iterations, salt_length = struct.unpack(">III", blob[1:13])
    salt, subkey = blob[13 : 13 + salt_length], blob[13 + salt_length :]
    digest = {1: "sha256", 2: "sha512"}[prf]
    made = hashlib.pbkdf2_hmac(digest, password.encode(), salt, iterations, len(subkey))
    return blob[0] == 1 and hmac.compare_digest(made, subkey)


def django_accepts(password: str, stored: str) -> bool:
    return bool(django_hashers.check_password(password, stored))


@dataclass
class Writable:
    preset: str
    table: str
    key: str
    password_column: str
    check: Callable[[str, str], bool]  # the platform's own check (ASP.NET: its format, rebuilt)
    expect: dict[str, Any] = field(default_factory=dict)  # columns the platform needs set


WRITABLE = [
    Writable(
        "woocommerce",
        "wp_users",
        "ID",
        "user_pass",
        lambda pw, h: php_accepts("wordpress", pw, h),
        {
            "user_login": "new@shop.test",
            "user_nicename": "newshop-test",
            "display_name": "new@shop.test",
        },
    ),
    Writable(
        "magento2",
        "customer_entity",
        "entity_id",
        "password_hash",
        lambda pw, h: php_accepts("magento2", pw, h),
        {"website_id": 1, "store_id": 1, "group_id": 1, "firstname": "New", "is_active": 1},
    ),
    Writable(
        "django",
        "auth_user",
        "id",
        "password",
        django_accepts,
        {"username": "new@shop.test", "is_active": True},
    ),
    Writable(
        "laravel",
        "users",
        "id",
        "password",
        lambda pw, h: php_accepts("bcrypt", pw, h),
        {"name": "new@shop.test"},
    ),
    Writable(
        "prestashop",
        "ps_customer",
        "id_customer",
        "passwd",
        lambda pw, h: php_accepts("bcrypt", pw, h),
        {"firstname": "New", "lastname": "User", "active": 1, "deleted": 0, "id_default_group": 3},
    ),
    Writable(
        "aspnet_identity",
        "AspNetUsers",
        "Id",
        "PasswordHash",
        lambda pw, h: aspnet_v3_accepts(pw, h),
        {
            "NormalizedEmail": "NEW@SHOP.TEST",
            "NormalizedUserName": "NEW@SHOP.TEST",
            "AccessFailedCount": 0,
        },
    ),
]


def _required_columns_are_set(url: str, table: str, row: dict[str, Any]) -> None:
    """Every NOT NULL column without a database default holds a value."""
    for described in inspect(make_engine(url)).get_columns(table):
        if not described["nullable"] and described.get("default") is None:
            if described.get("autoincrement") is True or described["name"] in ("id",):
                continue
            assert row[described["name"]] is not None, described["name"]


@pytest.mark.parametrize("target", WRITABLE, ids=lambda w: w.preset)
def test_registration_writes_a_row_the_platform_accepts(
    target: Writable, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    client, url = shop(BY_PRESET[target.preset], request, tmp_path)
    password = "New pässword 42!"
    answer = rum(client, create_request("new@shop.test", password))
    assert leaf(answer, "successful") == "true", ET.tostring(answer)
    with make_engine(url).connect() as connection:
        rows = (
            connection.execute(
                text(f"SELECT * FROM {target.table} WHERE {target.key} = :key"),
                {"key": _key_of(connection, target)},
            )
            .mappings()
            .all()
        )
    assert len(rows) == 1
    row = dict(rows[0])
    _required_columns_are_set(url, target.table, row)
    for name, value in target.expect.items():
        assert row[name] == value, name
    stored = str(row[target.password_column])
    assert target.check(password, stored)
    assert not target.check(wrong(password), stored)
    assert signs_in(client, "new@shop.test", password)
    assert not signs_in(client, "new@shop.test", wrong(password))


def _key_of(connection: Any, target: Writable) -> Any:
    email = {"woocommerce": "user_email", "aspnet_identity": "Email"}.get(target.preset, "email")
    return connection.execute(
        text(f"SELECT {target.key} FROM {target.table} WHERE {email} = 'new@shop.test'")
    ).scalar_one()


def test_wordpress_registration_writes_the_names_and_the_role_as_usermeta(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    client, url = shop(BY_PRESET["woocommerce"], request, tmp_path)
    answer = rum(
        client, create_request("new@shop.test", "New pässword 42!", first="Nia", last="Ode")
    )
    assert leaf(answer, "successful") == "true"
    with make_engine(url).connect() as connection:
        meta: dict[str, str] = dict(
            connection.execute(
                text(
                    "SELECT m.meta_key, m.meta_value FROM wp_usermeta m JOIN wp_users u"
                    " ON u.ID = m.user_id WHERE u.user_email = 'new@shop.test'"
                )
            ).all()
        )
    assert meta == {
        "first_name": "Nia",
        "last_name": "Ode",
        # WooCommerce's customer role, serialised as wp_insert_user stores roles.
        "wp_capabilities": 'a:1:{s:8:"customer";b:1;}',
        "wp_user_level": "0",
    }
    profile = rum(client, profile_request(login="new@shop.test"))
    assert leaf(profile, "userInfo/firstName") == "Nia"


READ_ONLY = [
    ("drupal7", "users"),
    ("drupal", "users_field_data"),
    ("shopware6", "customer"),
    ("shopware5", "s_user"),
    ("joomla", "abcde_users"),
    ("opencart", "oc_customer"),
    ("aspnet_membership", "aspnet_Membership"),
]


@pytest.mark.parametrize(("preset", "table"), READ_ONLY)
def test_read_only_presets_refuse_registrations_and_write_nothing(
    preset: str, table: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    client, url = shop(BY_PRESET[preset], request, tmp_path)

    def count() -> int:
        with make_engine(url).connect() as connection:
            return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())

    before = count()
    answer = rum(client, create_request("new@shop.test", "New pässword 42!"))
    assert leaf(answer, "successful") == "false"
    assert leaf(answer, "errorCode") == "8"
    assert leaf(answer, "errorMessage") == "Registration is not supported by this shop's user table"
    assert count() == before


def test_shopware6_binary_ids_travel_as_hex_and_find_the_row_again(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    client, _ = shop(BY_PRESET["shopware6"], request, tmp_path)
    signed_in = rum(client, dr_login_request("ann@shop.test", UNICODE_PW))
    erid = leaf(signed_in, "userKey/externalReferenceID")
    assert erid
    # GetUserRequest by ERID looks the user up by its key: BINARY(16) compared as bytes.
    by_erid = rum(client, profile_request(erid=erid, root="GetUserRequest"))
    assert leaf(by_erid, "userInfo/email") == "ann@shop.test"
    assert leaf(by_erid, "userInfo/firstName") == "Ann"


def test_the_rebuilt_aspnet_check_accepts_asp_net_core_s_own_vector() -> None:
    # ASPNET_TEST's V3_SHA512_100000iter_128salt_256subkey: the check above is ASP.NET's.
    assert aspnet_v3_accepts("my password", ASPNET_V3)
    assert not aspnet_v3_accepts("my passwore", ASPNET_V3)


@pytest.mark.parametrize("platform", PLATFORMS, ids=lambda p: p.preset)
def test_doctor_reads_every_preset_s_table(
    platform: Platform, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """doctor's hash sample and its duplicate-login queries follow the preset's layout (prefixed
    tables, a salt column, login columns of a joined table) and find nothing wrong here."""
    _client, url = shop(platform, request, tmp_path)
    mapping = DirectorySettings(url=url, preset=platform.preset, **platform.settings)
    directory = build_directory(load_settings({"DIRECTORY": mapping.model_dump()}))
    assert isinstance(directory, SqlUserDirectory)
    samples = directory.password_samples(100)
    assert samples and all(stored for stored, _ in samples)
    if mapping.salt_column:
        assert all(salt for _, salt in samples)
    emails, logins = merchant_findings(directory.engine, mapping)
    assert emails.groups == () and logins == []


def test_doctor_finds_a_duplicate_login_in_a_joined_table(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """ASP.NET Membership keeps UserName in aspnet_Users: two users named Ann and ANN there are
    one ambiguous login, as sign-in sees them."""
    platform = BY_PRESET["aspnet_membership"]
    shop(platform, request, tmp_path)
    url = f"sqlite:///{tmp_path / 'shop.sqlite3'}"
    with make_engine(url).begin() as connection:
        connection.execute(text(MEMBERSHIP_USER), {"id": "u4", "name": "ANN"})
        connection.execute(
            text(MEMBERSHIP_ROW),
            {
                "id": "u4",
                "hash": MEMBERSHIP_SHA1["hash"],
                "salt": MEMBERSHIP_SHA1["salt"],
                "mail": "ann2@shop.test",
                "approved": 1,
                "locked": 0,
            },
        )
    mapping = DirectorySettings(url=url, preset="aspnet_membership")

    _, logins = merchant_findings(make_engine(url), mapping)

    [finding] = logins
    assert finding.what == "ambiguous logins in column aspnet_Users.UserName"
    assert finding.groups == (("u1", "u4"),)
