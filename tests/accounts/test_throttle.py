"""Login throttling (issue 12, item 6): counted in the database, serialised under
concurrency; the trusted proxy count (ProxyFix) decides which client address counts."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from exam_app import create_app
from exam_app.accounts import throttle
from exam_app.accounts.models import LoginThrottle, ThrottleScope
from exam_app.accounts.services import start_login
from exam_app.accounts.throttle import LoginThrottled, ThrottlePolicy
from exam_app.clock import utcnow
from exam_app.config import from_environment


def test_parallel_attempts_get_no_more_than_the_free_ones_through(app, db):
    # Twelve attempts on one account from one client at the same instant, each in its own
    # connection (as gunicorn's workers and threads): the claims queue on the rows, so
    # exactly the 3 free ones pass; the others must wait, whatever the interleaving.
    now = utcnow()
    policy = ThrottlePolicy.from_config(app.config)
    barrier = threading.Barrier(12)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt():
        with app.app_context():
            barrier.wait()
            try:
                start_login(username="gestion", client="203.0.113.5", device=None,
                            policy=policy, now=now)
                db.session.commit()
                outcome = "claimed"
            except LoginThrottled:
                db.session.rollback()
                outcome = "throttled"
            finally:
                db.session.remove()
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=attempt) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["claimed"] * 3 + ["throttled"] * 9
    rows = db.session.execute(sa.select(LoginThrottle.scope, LoginThrottle.key,
                                        LoginThrottle.failures)
                              .order_by(LoginThrottle.scope)).all()
    assert rows == [(ThrottleScope.ACCOUNT, "gestion", 3), (ThrottleScope.CLIENT, "203.0.113.5", 3),
                    (ThrottleScope.PAIR, "gestion 203.0.113.5", 3)]


def test_a_success_takes_back_its_count_on_the_shared_keys(app, db):
    now = utcnow()
    policy = ThrottlePolicy(free_per_pair=3, free_per_account=10, free_per_client=2)
    for _ in range(2):
        start_login(username="autre", client="198.51.100.1", device=None, policy=policy, now=now)
    claim = start_login(username="claire", client="198.51.100.1", device=None, policy=policy,
                        now=now + timedelta(seconds=5))
    throttle.settle(claim, succeeded=True)
    db.session.commit()
    failures = dict(db.session.execute(sa.select(LoginThrottle.key, LoginThrottle.failures)).all())
    blocked = dict(db.session.execute(sa.select(LoginThrottle.key, LoginThrottle.blocked_until)).all())
    assert failures == {"autre": 2, "autre 198.51.100.1": 2, "198.51.100.1": 2,
                        "claire": 0, "claire 198.51.100.1": 0}
    # The third attempt of the client set a wait that the success lifted again.
    assert blocked["198.51.100.1"] is None


def test_the_wait_doubles_up_to_the_cap():
    policy = ThrottlePolicy(free_per_pair=3, delay_cap_seconds=300)
    assert [policy.delay(ThrottleScope.PAIR, n) for n in range(1, 14)] == [
        0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    assert policy.delay(ThrottleScope.PAIR, 10_000) == 300


@pytest.mark.parametrize(("address", "key"), [
    ("203.0.113.7", "203.0.113.7"),
    ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
    ("::ffff:192.0.2.1", "192.0.2.1"),
    (None, None),
])
def test_a_client_is_its_ipv4_address_or_its_ipv6_64(address, key):
    assert throttle.client_key(address) == key


def test_device_cookies_are_signed_per_account_and_expire():
    now = utcnow()
    cookie = throttle.remember_device("k", None, username="a", max_age_seconds=100, now=now)
    cookie = throttle.remember_device("k", cookie, username="b", max_age_seconds=100, now=now)
    device_a = throttle.device_for("k", cookie, username="a", max_age_seconds=100, now=now)
    assert device_a and device_a.startswith("d:")
    assert throttle.device_for("k", cookie, username="b", max_age_seconds=100, now=now)
    assert throttle.device_for("k", cookie, username="c", max_age_seconds=100, now=now) is None
    assert throttle.device_for("other-key", cookie, username="a", max_age_seconds=100,
                               now=now) is None
    assert throttle.device_for("k", cookie, username="a", max_age_seconds=100,
                               now=now + timedelta(seconds=101)) is None
    assert throttle.device_for("k", cookie + "x", username="a", max_age_seconds=100,
                               now=now) is None


def _proxied_app(**config):
    app = create_app({"TESTING": True, "SECRET_KEY": "k", "SQLALCHEMY_DATABASE_URI": "sqlite://",
                      **config})

    @app.route("/_client")
    def client_address():
        from flask import request

        return f"{request.remote_addr} {request.scheme}"

    return app


def test_forwarded_headers_count_only_with_proxy_count_set():
    spoofed = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    direct = _proxied_app().test_client()  # PROXY_COUNT defaults to 0: headers ignored
    assert direct.get("/_client", headers=spoofed).get_data(as_text=True) == "127.0.0.1 http"
    proxied = _proxied_app(PROXY_COUNT=1).test_client()
    assert proxied.get("/_client", headers=spoofed).get_data(as_text=True) == "203.0.113.7 https"
    # Behind one proxy, only the address that proxy appended counts, not one the client wrote.
    chained = {"X-Forwarded-For": "10.9.9.9, 198.51.100.4"}
    assert proxied.get("/_client", headers=chained).get_data(as_text=True) == \
        "198.51.100.4 http"


def test_proxy_count_is_read_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SECRET_KEY", "k")
    monkeypatch.setenv("PROXY_COUNT", "1")
    assert from_environment(str(tmp_path))["PROXY_COUNT"] == 1
    monkeypatch.delenv("PROXY_COUNT")
    assert from_environment(str(tmp_path))["PROXY_COUNT"] == 0
    monkeypatch.setenv("PROXY_COUNT", "un")
    with pytest.raises(RuntimeError, match="PROXY_COUNT doit être un entier positif ou nul"):
        from_environment(str(tmp_path))


def test_keys_past_the_window_are_purged_by_later_attempts(app, db):
    policy = ThrottlePolicy.from_config(app.config)
    start = utcnow()
    for n in range(3):
        start_login(username=f"essai{n}", client="192.0.2.9", device=None, policy=policy,
                    now=start)
    claim = start_login(username="claire", client="192.0.2.10", device=None, policy=policy,
                        now=start + timedelta(seconds=1))
    throttle.settle(claim, succeeded=True)  # claire's pair key: cleared
    db.session.commit()
    later = start + timedelta(seconds=app.config["LOGIN_FAILURE_WINDOW_SECONDS"] + 2)
    start_login(username="essai0", client="192.0.2.9", device=None, policy=policy, now=later)
    db.session.commit()
    keys = sorted(db.session.scalars(sa.select(LoginThrottle.key)).all())
    # Every key last failed more than a window ago, and claire's cleared pair key, is gone;
    # the keys of the attempt being counted stay.
    assert keys == ["192.0.2.9", "essai0", "essai0 192.0.2.9"]
