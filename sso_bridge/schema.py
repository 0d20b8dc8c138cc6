"""The bridge's own schema (identity map, registrations) and its versioned upgrades.

`sso-bridge db upgrade` applies the missing steps; `serve` refuses to start on an out-of-date
schema. Steps are append-only: never edit one that has shipped, add the next.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    inspect,
    select,
    text,
)

metadata = MetaData()

schema_version = Table(
    "sso_bridge_schema",
    metadata,
    Column("version", Integer, nullable=False),
)

# One row per merchant user: user_key <-> ERID, unique both ways, never updated or deleted
# (triggers enforce it where the database supports them).
identities = Table(
    "sso_bridge_identities",
    metadata,
    Column("user_key", String(255), primary_key=True),
    Column("erid", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("origin", String(16), nullable=False),  # sign-in | registration | import
    Column("shopper_provisioned_at", DateTime(timezone=True), nullable=True),
)

# Registrations through CreateUserProfileRequest, keyed by the email's canonical form: serialises
# concurrent creates of one email and lets a retried create get the same ERID back. claim_id is
# the current owner's fencing token (new on every takeover), lease_until how long its owner holds
# it (sso_bridge/registrations.py).
registrations = Table(
    "sso_bridge_registrations",
    metadata,
    Column("email", String(320), primary_key=True),
    Column("erid", String(64), nullable=False, unique=True),
    Column("user_key", String(255), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("claim_id", String(36), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
)

_IMMUTABLE_SQLITE = [
    """CREATE TRIGGER IF NOT EXISTS sso_bridge_identities_no_update
       BEFORE UPDATE OF user_key, erid ON sso_bridge_identities
       BEGIN SELECT RAISE(ABORT, 'identities are immutable'); END""",
    """CREATE TRIGGER IF NOT EXISTS sso_bridge_identities_no_delete
       BEFORE DELETE ON sso_bridge_identities
       BEGIN SELECT RAISE(ABORT, 'identities are immutable'); END""",
]
_IMMUTABLE_POSTGRESQL = [
    """CREATE OR REPLACE FUNCTION sso_bridge_identities_immutable() RETURNS trigger AS $$
       BEGIN
         IF TG_OP = 'DELETE' OR NEW.user_key <> OLD.user_key OR NEW.erid <> OLD.erid THEN
           RAISE EXCEPTION 'identities are immutable';
         END IF;
         RETURN NEW;
       END $$ LANGUAGE plpgsql""",
    "DROP TRIGGER IF EXISTS sso_bridge_identities_immutable ON sso_bridge_identities",
    """CREATE TRIGGER sso_bridge_identities_immutable
       BEFORE UPDATE OR DELETE ON sso_bridge_identities
       FOR EACH ROW EXECUTE FUNCTION sso_bridge_identities_immutable()""",
]


class SchemaProblem(Exception):
    """The bridge's database cannot be used as it is; the message says what to do."""


class UnsupportedDatabase(SchemaProblem):
    """The database cannot give the identity map's guarantees (see ``identity_guarantees``)."""


def _step_1(connection: Connection) -> None:
    metadata.create_all(connection, tables=[identities, registrations])
    dialect = connection.dialect.name
    statements = {"sqlite": _IMMUTABLE_SQLITE, "postgresql": _IMMUTABLE_POSTGRESQL}.get(dialect, [])
    for statement in statements:
        connection.execute(text(statement))


def _step_identities_binary(connection: Connection) -> None:
    """Binary keys and ERIDs, ERIDs unique ignoring case, immutability on MySQL/MariaDB too."""
    # Imported here: identity_guarantees imports this module (for its exceptions).
    from sso_bridge.identity_guarantees import make_identities_binary

    make_identities_binary(connection)


def _step_registration_claims(connection: Connection) -> None:
    """Registrations get a claim id and a lease, so a claim is taken over or released only by
    compare-and-set on its own identity. Rows from before keep their ERID as claim id and no
    lease (taken over at once: nobody is working on them)."""
    # _step_1 creates the table from the current definition, so on a new database the columns
    # are already there.
    present = {c["name"] for c in inspect(connection).get_columns(registrations.name)}
    for added in (registrations.c.claim_id, registrations.c.lease_until):
        if added.name not in present:
            kind = added.type.compile(dialect=connection.dialect)
            connection.execute(
                text(f"ALTER TABLE {registrations.name} ADD COLUMN {added.name} {kind}")
            )
    connection.execute(
        registrations.update()
        .where(registrations.c.claim_id.is_(None))
        .values(claim_id=registrations.c.erid)
    )


STEPS: list[Callable[[Connection], None]] = [
    _step_1,
    _step_identities_binary,
    _step_registration_claims,
]
HEAD = len(STEPS)


class SchemaOutOfDate(SchemaProblem):
    def __init__(self, current: int) -> None:
        super().__init__(
            f"the bridge's database schema is at version {current}, this release needs {HEAD}: "
            "run `sso-bridge db upgrade`"
        )


def current_version(engine: Engine) -> int:
    with engine.connect() as connection:
        if not engine.dialect.has_table(connection, schema_version.name):
            return 0
        version = connection.execute(select(schema_version.c.version)).scalar()
    return int(version or 0)


def upgrade(engine: Engine) -> tuple[int, int]:
    """Apply every missing step, each in its own transaction. Returns (from, to).

    Raises `UnsupportedDatabase` (before writing anything) for a database that cannot give the
    identity map's guarantees, and when a step cannot install them (e.g. no TRIGGER privilege).
    """
    from sso_bridge.identity_guarantees import require_supported_dialect, verify_guarantees

    require_supported_dialect(engine.dialect.name)
    with engine.begin() as connection:
        schema_version.create(connection, checkfirst=True)
        if connection.execute(select(schema_version.c.version)).first() is None:
            connection.execute(schema_version.insert().values(version=0))
    start = current_version(engine)
    for number in range(start, HEAD):
        with engine.begin() as connection:
            STEPS[number](connection)
            connection.execute(schema_version.update().values(version=number + 1))
    verify_guarantees(engine)
    return start, HEAD


def require_current(engine: Engine) -> None:
    """Start-up guard: the schema is current and the database gives the identity guarantees."""
    from sso_bridge.identity_guarantees import require_supported_dialect, verify_guarantees

    require_supported_dialect(engine.dialect.name)
    version = current_version(engine)
    if version != HEAD:
        raise SchemaOutOfDate(version)
    verify_guarantees(engine)
