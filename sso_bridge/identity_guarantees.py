"""What the identity map's database must guarantee, per backend: installing it and checking it.

The guarantees (README "Identity guarantees"): user keys and ERIDs compare byte for byte (no
case, accent or trailing-space folding), ERIDs are unique ignoring letter case, and UPDATE of a
key or ERID and DELETE are refused by the database itself. SQLite and PostgreSQL compare text
exactly by default; MySQL/MariaDB columns inherit a case- and accent-insensitive, space-padding
collation, so the step below converts them to a binary NO PAD collation and adds the triggers
MySQL lacked. A database that cannot give all of this is refused (`UnsupportedDatabase`) by
`db upgrade` and at start-up, with one message saying why.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, bindparam, text
from sqlalchemy.exc import DBAPIError

from sso_bridge.schema import SchemaProblem, UnsupportedDatabase

SUPPORTED_DIALECTS = ("sqlite", "postgresql", "mysql", "mariadb")
TABLE = "sso_bridge_identities"
FOLDED_INDEX = "sso_bridge_identities_erid_folded"
# NO PAD binary collations: MySQL 8 calls it utf8mb4_0900_bin, MariaDB utf8mb4_nopad_bin.
# (utf8mb4_bin pads with spaces: 'bob' and 'bob ' would be one key.)
_MYSQL_BINARY = ("utf8mb4_0900_bin", "utf8mb4_nopad_bin")
_MYSQL_TRIGGERS = {
    "sso_bridge_identities_no_update": """
        CREATE TRIGGER sso_bridge_identities_no_update BEFORE UPDATE ON sso_bridge_identities
        FOR EACH ROW BEGIN
          IF CAST(NEW.user_key AS BINARY) <> CAST(OLD.user_key AS BINARY)
             OR CAST(NEW.erid AS BINARY) <> CAST(OLD.erid AS BINARY) THEN
            SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'identities are immutable';
          END IF;
        END""",
    "sso_bridge_identities_no_delete": """
        CREATE TRIGGER sso_bridge_identities_no_delete BEFORE DELETE ON sso_bridge_identities
        FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'identities are immutable'""",
}


def require_supported_dialect(dialect: str) -> None:
    if dialect not in SUPPORTED_DIALECTS:
        raise UnsupportedDatabase(
            f"the bridge's database is {dialect}, which the identity map does not support: use "
            "SQLite, PostgreSQL or MySQL/MariaDB (only these are known to give its guarantees: "
            "binary comparison of keys and ERIDs, UPDATE and DELETE refused by the database)"
        )


def _refuse_case_twins(connection: Connection) -> None:
    """A unique index on lower(erid) cannot be built over ERIDs that differ only by case."""
    twins = connection.execute(
        text(
            "SELECT user_key, erid FROM sso_bridge_identities WHERE lower(erid) IN "
            "(SELECT lower(erid) FROM sso_bridge_identities GROUP BY lower(erid) "
            "HAVING count(*) > 1) ORDER BY lower(erid), user_key"
        )
    ).all()
    if twins:
        listed = ", ".join(f"user {row.user_key!r} has {row.erid!r}" for row in twins[:20])
        raise SchemaProblem(
            f"{len(twins)} identities hold ERIDs that differ only by letter case ({listed}): "
            "DR treats them as one shopper. Decide which user keeps each ERID, then upgrade"
        )


def make_identities_binary(connection: Connection) -> None:
    """The schema step (idempotent: MySQL DDL commits as it goes, so a rerun must be safe)."""
    dialect = connection.dialect.name
    require_supported_dialect(dialect)
    _refuse_case_twins(connection)
    if dialect == "sqlite":
        # SQLite compares with BINARY unless told otherwise; the triggers came with step 1.
        connection.execute(
            text(f"CREATE UNIQUE INDEX IF NOT EXISTS {FOLDED_INDEX} ON {TABLE} (lower(erid))")
        )
    elif dialect == "postgresql":
        # "C": byte order and byte equality whatever the database's default collation.
        connection.execute(
            text(
                f'ALTER TABLE {TABLE} ALTER COLUMN user_key TYPE VARCHAR(255) COLLATE "C", '
                'ALTER COLUMN erid TYPE VARCHAR(64) COLLATE "C"'
            )
        )
        connection.execute(
            text(f"CREATE UNIQUE INDEX IF NOT EXISTS {FOLDED_INDEX} ON {TABLE} (lower(erid))")
        )
    else:
        _make_mysql_binary(connection)


def _mysql_binary_collation(connection: Connection) -> str:
    available = set(
        connection.execute(
            text(
                "SELECT COLLATION_NAME FROM information_schema.COLLATIONS "
                "WHERE COLLATION_NAME IN :names"
            ).bindparams(bindparam("names", _MYSQL_BINARY, expanding=True)),
        ).scalars()
    )
    for name in _MYSQL_BINARY:
        if name in available:
            return name
    raise UnsupportedDatabase(
        "this MySQL/MariaDB has no binary NO PAD collation (utf8mb4_0900_bin or "
        "utf8mb4_nopad_bin): it cannot tell 'bob' from 'bob ' in a unique key. Use MySQL 8 or "
        "MariaDB 10.2 or later"
    )


def _make_mysql_binary(connection: Connection) -> None:
    collation = _mysql_binary_collation(connection)
    binary = f"CHARACTER SET utf8mb4 COLLATE {collation}"
    connection.execute(
        text(
            f"ALTER TABLE {TABLE} MODIFY user_key VARCHAR(255) {binary} NOT NULL, "
            f"MODIFY erid VARCHAR(64) {binary} NOT NULL"
        )
    )
    has_folded = connection.execute(
        text(
            "SELECT count(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
            "AND TABLE_NAME = :table AND COLUMN_NAME = 'erid_folded'"
        ),
        {"table": TABLE},
    ).scalar_one()
    if not has_folded:
        # MariaDB has no functional index: a stored generated column carries lower(erid).
        connection.execute(
            text(
                f"ALTER TABLE {TABLE} ADD COLUMN erid_folded VARCHAR(64) {binary} "
                f"AS (LOWER(erid)) STORED, ADD UNIQUE INDEX {FOLDED_INDEX} (erid_folded)"
            )
        )
    try:
        for name, statement in _MYSQL_TRIGGERS.items():
            connection.execute(text(f"DROP TRIGGER IF EXISTS {name}"))
            connection.execute(text(statement))
    except DBAPIError as exc:
        raise UnsupportedDatabase(
            "MySQL/MariaDB refused to create the identity map's triggers "
            f"({type(exc.orig).__name__}: {str(exc.orig)[:160]}); without them UPDATE and "
            "DELETE of identities would succeed. Grant the bridge's database user the TRIGGER "
            "privilege (with binary logging on, also SUPER or log_bin_trust_function_creators=1) "
            "and run `sso-bridge db upgrade` again"
        ) from exc


def _missing(connection: Connection) -> list[str]:
    dialect = connection.dialect.name
    if dialect == "sqlite":
        names = set(
            connection.execute(
                text("SELECT name FROM sqlite_master WHERE tbl_name = :table"), {"table": TABLE}
            ).scalars()
        )
        wanted = {
            "sso_bridge_identities_no_update": "the UPDATE trigger",
            "sso_bridge_identities_no_delete": "the DELETE trigger",
            FOLDED_INDEX: "the unique index on lower(erid)",
        }
        return [what for name, what in wanted.items() if name not in names]
    if dialect == "postgresql":
        missing = []
        if not connection.execute(
            text(
                "SELECT 1 FROM pg_trigger WHERE tgname = 'sso_bridge_identities_immutable' "
                "AND tgrelid = to_regclass(:table) AND tgenabled <> 'D'"
            ),
            {"table": TABLE},
        ).first():
            missing.append("the UPDATE/DELETE trigger")
        index = connection.execute(text("SELECT to_regclass(:index)"), {"index": FOLDED_INDEX})
        if index.scalar() is None:
            missing.append("the unique index on lower(erid)")
        return missing
    missing = []
    events = set(
        connection.execute(
            text(
                "SELECT EVENT_MANIPULATION FROM information_schema.TRIGGERS "
                "WHERE TRIGGER_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = :table "
                "AND TRIGGER_NAME IN :names"
            ).bindparams(bindparam("names", tuple(_MYSQL_TRIGGERS), expanding=True)),
            {"table": TABLE},
        ).scalars()
    )
    missing += [f"the {event} trigger" for event in ("UPDATE", "DELETE") if event not in events]
    collations: dict[str, str | None] = dict(
        (row[0], row[1])
        for row in connection.execute(
            text(
                "SELECT COLUMN_NAME, COLLATION_NAME FROM information_schema.COLUMNS "
                "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :table "
                "AND COLUMN_NAME IN ('user_key', 'erid')"
            ),
            {"table": TABLE},
        ).all()
    )
    missing += [
        f"a binary NO PAD collation on {name} (it is {collations.get(name)})"
        for name in ("user_key", "erid")
        if collations.get(name) not in _MYSQL_BINARY
    ]
    if not connection.execute(
        text(
            "SELECT 1 FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() "
            "AND TABLE_NAME = :table AND INDEX_NAME = :index AND NON_UNIQUE = 0"
        ),
        {"table": TABLE, "index": FOLDED_INDEX},
    ).first():
        missing.append("the unique index on lower(erid)")
    return missing


def verify_guarantees(engine: Engine) -> None:
    """Refuse a current schema whose safeguards are gone (e.g. restored from a dump without
    triggers): the map would silently stop protecting the one-user-one-ERID invariant."""
    require_supported_dialect(engine.dialect.name)
    with engine.connect() as connection:
        if not engine.dialect.has_table(connection, TABLE):
            return  # nothing to protect yet; the version check reports the missing schema
        missing = _missing(connection)
    if missing:
        raise UnsupportedDatabase(
            f"the identity map's safeguards are missing in the bridge's database: "
            f"{', '.join(missing)}. Restore them (they come with `sso-bridge db upgrade`; a dump "
            "restored without triggers loses them) before starting the bridge"
        )
