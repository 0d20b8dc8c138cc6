"""The private-store authorization tests of tests/unit/test_provisioning.py, on the real Redis
(its plan cache and renewal marks are store keys): the same test functions, collected here
with a RedisStore as their ``store``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sso_bridge.store import KeyValueStore, RedisStore
from tests.conftest import REDIS_URL
from tests.unit.test_provisioning import (
    test_a_refused_application_token_is_replaced_once,
    test_authorization_failure_is_counted_not_raised,
    test_empty_search_result_is_cached_too,
    test_fixed_plan_is_authorized_without_search,
    test_no_rules_touches_nothing,
    test_non_matching_user_is_not_authorized,
    test_nothing_to_authorize_prepares_no_step,
    test_search_failure_is_counted_and_not_cached,
    test_search_results_are_cached_in_the_store,
    test_the_application_token_is_minted_at_start_up_when_a_rule_searches,
    test_the_search_uses_the_applications_token_minted_once,
)

__all__ = [  # collected here, with this module's store
    'test_a_refused_application_token_is_replaced_once',
    'test_authorization_failure_is_counted_not_raised',
    'test_empty_search_result_is_cached_too',
    'test_fixed_plan_is_authorized_without_search',
    'test_no_rules_touches_nothing',
    'test_non_matching_user_is_not_authorized',
    'test_nothing_to_authorize_prepares_no_step',
    'test_search_failure_is_counted_and_not_cached',
    'test_search_results_are_cached_in_the_store',
    'test_the_application_token_is_minted_at_start_up_when_a_rule_searches',
    'test_the_search_uses_the_applications_token_minted_once',
]


@pytest.fixture
def store(redis_prefix: str) -> Iterator[KeyValueStore]:
    redis_store = RedisStore.from_url(REDIS_URL, prefix=redis_prefix, timeout=0.5)
    yield redis_store
    redis_store.client.close()
