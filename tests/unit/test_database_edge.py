"""The identity map and the registration ledger translate database failures at their edge:
nothing above them sees a SQLAlchemy exception (issue 12, "infrastructure errors translated to
domain errors at each adapter's edge")."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.exc import SQLAlchemyError

from sso_bridge.db import DatabaseUnavailable, make_engine
from sso_bridge.identity import IdentityMap
from sso_bridge.registrations import RegistrationLedger


@pytest.fixture
def unreachable(tmp_path: Path) -> IdentityMap:
    # A SQLite file in a directory that does not exist cannot be opened: OperationalError.
    return IdentityMap(engine=make_engine(f"sqlite:///{tmp_path / 'missing' / 'bridge.db'}"))


def test_identity_map_raises_its_own_error(unreachable: IdentityMap) -> None:
    for call in (
        lambda: unreachable.find_erid("7"),
        lambda: unreachable.find_user_key("erid"),
        lambda: unreachable.erid_for("7"),
        lambda: unreachable.is_provisioned("erid"),
        unreachable.ping,
    ):
        with pytest.raises(DatabaseUnavailable) as caught:
            call()
        assert isinstance(caught.value.__cause__, SQLAlchemyError)
        assert str(caught.value) == "OperationalError"  # the type only, never the driver's text


def test_registration_ledger_raises_its_own_error(unreachable: IdentityMap) -> None:
    ledger = RegistrationLedger(engine=unreachable.engine, identities=unreachable)
    with pytest.raises(DatabaseUnavailable):
        ledger.claim("alice@example.com")
    with pytest.raises(DatabaseUnavailable):
        ledger.find("alice@example.com")
