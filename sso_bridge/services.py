"""Wiring: settings in, the bridge's services out. Views reach them through `services()`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app

from sso_bridge.activity import ActivityCheck
from sso_bridge.db import make_engine
from sso_bridge.directory.base import UserDirectory
from sso_bridge.directory.gate import VerificationGate
from sso_bridge.directory.http import HttpUserDirectory
from sso_bridge.directory.passwords import PasswordHasher
from sso_bridge.directory.sql import SqlUserDirectory
from sso_bridge.dr.broker import BrokerPolicy, TokenBroker
from sso_bridge.dr.client import CommerceClient, RateLimiter
from sso_bridge.dr.private_stores import PrivateStoreAuthorizer
from sso_bridge.dr.provisioning import ShopperProvisioner
from sso_bridge.dr.rate_limit import SharedRateLimiter
from sso_bridge.dr.sealing import Sealer, derive_key, parse_token_key
from sso_bridge.identity import IdentityMap
from sso_bridge.registrations import RegistrationLedger
from sso_bridge.rum.auth import CallerCheck
from sso_bridge.rum.operations import PasswordDecoder, RumOptions, RumService
from sso_bridge.rum.password_cipher import decrypter
from sso_bridge.rum.throttle import (
    LoginThrottle,
    ThrottlePolicy,
    secret_of_rum_users,
    throttle_key,
)
from sso_bridge.sessions import SessionStore
from sso_bridge.settings import PasswordEncryptionSettings, Settings
from sso_bridge.store import InMemoryStore, KeyValueStore, RedisStore
from sso_bridge.throttle_counters import InMemoryThrottleCounters, RedisThrottleCounters

log = logging.getLogger(__name__)

EXTENSION = "sso_bridge"


@dataclass
class Services:
    settings: Settings
    directory: UserDirectory
    identities: IdentityMap
    store: KeyValueStore
    sessions: SessionStore
    rum: RumService
    callers: CallerCheck
    api_keys: frozenset[bytes]
    tokens: TokenBroker | None
    activity: ActivityCheck


def _password_decoder(encryption: PasswordEncryptionSettings | None) -> PasswordDecoder:
    if encryption is None:
        return decrypter(None)
    return decrypter(encryption.key, encryption.mode, encryption.iv, encryption.encoding)


def build_store(settings: Settings) -> KeyValueStore:
    if settings.redis_url:
        return RedisStore.from_url(
            settings.redis_url,
            prefix=settings.redis_key_prefix,
            timeout=settings.redis_timeout,
            local_cache_size=settings.redis_local_cache_size,
        )
    log.warning(
        "no SSO_BRIDGE_REDIS_URL: using an in-process cache; fine for one process, "
        "wrong for several workers or replicas"
    )
    return InMemoryStore()


def build_dr_client(
    settings: Settings, *, deadline: float | None = None, rate_limiter: RateLimiter | None = None
) -> CommerceClient:
    """The DR client as configured (DR_API_KEY and DR_API_SECRET must be set)."""
    if not (settings.dr_api_key and settings.dr_api_secret):
        raise ValueError("DR credentials are not configured")
    return CommerceClient(
        base_url=settings.dr_base_url,
        api_key=settings.dr_api_key,
        api_secret=settings.dr_api_secret,
        connect_timeout=min(1.0, settings.dr_timeout),
        read_timeout=settings.dr_timeout,
        deadline=deadline or settings.dr_timeout,
        max_calls_per_second=settings.dr_calls_per_second,
        rate_limiter=rate_limiter,
    )


def build_broker(
    settings: Settings,
    *,
    store: KeyValueStore,
    identities: IdentityMap,
    directory: UserDirectory,
    activity: ActivityCheck | None = None,
) -> TokenBroker | None:
    """The token broker, or None when no DR credentials are configured."""
    if not (settings.dr_api_key and settings.dr_api_secret):
        return None
    client = build_dr_client(
        settings, rate_limiter=SharedRateLimiter(store=store, rate=settings.dr_calls_per_second)
    )
    keys = [parse_token_key(key) for key in settings.token_encryption_keys] or [
        derive_key(settings.dr_api_secret)
    ]
    policy = BrokerPolicy(
        safety_margin=settings.token_safety_margin,
        refresh_fraction=settings.token_refresh_fraction,
        mint_deadline=settings.dr_timeout,
        wait_budget=settings.dr_timeout + 0.3,
        negative_ttl=settings.dr_negative_ttl,
    )
    return TokenBroker(
        store=store,
        sealer=Sealer(keys),
        client=client,
        policy=policy,
        ensure_shopper=ShopperProvisioner(
            client=client, identities=identities, directory=directory
        ),
        on_minted=PrivateStoreAuthorizer(
            rules=settings.private_stores, client=client, store=store, directory=directory
        ),
        may_serve=activity.is_active if activity is not None else None,
        may_mint=activity.active_now if activity is not None else None,
    )


def build_directory(settings: Settings) -> UserDirectory:
    """The configured backend: the merchant's user table (sql) or its login API (http)."""
    if settings.directory.backend == "http":
        return HttpUserDirectory.from_settings(settings.directory)
    return SqlUserDirectory(
        engine=make_engine(settings.directory.url),
        mapping=settings.directory,
        hasher=PasswordHasher(
            new_scheme=settings.directory.new_password_scheme,
            pepper=settings.directory.pepper,
            prefer=settings.directory.password_prefer,
        ),
        gate=VerificationGate(limit=settings.login_concurrency, wait=settings.login_queue_seconds),
        upgrade_hashes=settings.directory.upgrade_hashes,
    )


def build_throttle(settings: Settings, store: KeyValueStore) -> LoginThrottle | None:
    """Failure throttling, counted where the rest of the shared state lives."""
    if not settings.throttle_enabled:
        return None
    fallback = InMemoryThrottleCounters()
    counters = (
        RedisThrottleCounters(client=store.client, prefix=settings.redis_key_prefix)
        if isinstance(store, RedisStore)
        else fallback
    )
    return LoginThrottle(
        counters=counters,
        fallback=fallback,
        key=throttle_key(
            settings.throttle_key, [settings.dr_api_secret, secret_of_rum_users(settings.rum_users)]
        ),
        policy=ThrottlePolicy(
            global_failures_per_minute=settings.throttle_global_failures_per_minute,
            wait=settings.throttle_wait_seconds,
            max_in_flight=settings.throttle_max_in_flight,
        ),
    )


def build_services(settings: Settings) -> Services:
    directory = build_directory(settings)
    identities = IdentityMap(engine=make_engine(settings.database_url))
    store = build_store(settings)
    activity = ActivityCheck(directory=directory, recheck_seconds=settings.active_recheck_seconds)
    sessions = SessionStore(store=store, ttl=settings.session_ttl)
    rum = RumService(
        directory=directory,
        identities=identities,
        registrations=RegistrationLedger(
            engine=identities.engine, identities=identities, lease=settings.registration_lease
        ),
        sessions=sessions,
        throttle=build_throttle(settings, store),
        password_decoder=_password_decoder(settings.rum_password_encryption),
        options=RumOptions(
            site_id=settings.site_id,
            session_attribute=settings.session_attribute,
            shopper_ip_attribute=settings.shopper_ip_attribute,
            registration_retry_window=timedelta(seconds=settings.registration_retry_window),
            registration_wait=1.5 * settings.registration_lease,
        ),
    )
    callers = CallerCheck(
        users=settings.rum_users,
        allowed_networks=settings.rum_allowed_ips,
        trusted_proxies=settings.trusted_proxies,
        proxy_networks=settings.forwarded_allow_ips,
    )
    return Services(
        settings=settings,
        directory=directory,
        identities=identities,
        store=store,
        sessions=sessions,
        rum=rum,
        callers=callers,
        api_keys=frozenset(key.encode() for key in settings.api_keys),
        tokens=build_broker(
            settings, store=store, identities=identities, directory=directory, activity=activity
        ),
        activity=activity,
    )


def services() -> Services:
    found: Services = current_app.extensions[EXTENSION]
    return found
