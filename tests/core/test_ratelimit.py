"""Sign-in throttle: per canonical identity across IPs, per IP, IPv6 /64 buckets."""

from __future__ import annotations

import pytest

from authgate.errors import RateLimited
from authgate.ratelimit import SignInThrottle, ip_bucket
from authgate.settings import build_settings

from .conftest import SECRET


def throttle(**kw: object) -> SignInThrottle:
    return SignInThrottle(build_settings(secret=SECRET, **kw))


def test_identity_limit_applies_across_ips() -> None:
    t = throttle(sign_in_max_failures=3)
    for i in range(3):
        t.attempt("email:v@x.com", f"10.0.0.{i}")
        t.failed("email:v@x.com", f"10.0.0.{i}")
    with pytest.raises(RateLimited) as info:
        t.attempt("email:v@x.com", "192.0.2.99")
    assert 1 <= info.value.retry_after <= 900
    assert info.value.headers()["Retry-After"] == str(info.value.retry_after)


def test_success_clears_identity_but_not_ip() -> None:
    t = throttle(sign_in_max_failures=3, sign_in_ip_max_failures=4)
    for _ in range(2):
        t.attempt("email:a@x.com", "10.0.0.1")
        t.failed("email:a@x.com", "10.0.0.1")
    t.attempt("email:a@x.com", "10.0.0.1")
    t.succeeded("email:a@x.com")
    for _ in range(3):  # identity counter was cleared: three more attempts allowed
        t.attempt("email:a@x.com", "10.0.0.2")
    # the IP counter of 10.0.0.1 kept its 2 failures
    for _ in range(2):
        t.attempt("email:other@x.com", "10.0.0.1")
        t.failed("email:other@x.com", "10.0.0.1")
    with pytest.raises(RateLimited):
        t.attempt("email:third@x.com", "10.0.0.1")


def test_ip_limit() -> None:
    t = throttle(sign_in_ip_max_failures=2)
    for n in range(2):
        t.attempt(f"email:u{n}@x.com", "203.0.113.5")
        t.failed(f"email:u{n}@x.com", "203.0.113.5")
    with pytest.raises(RateLimited):
        t.attempt("email:new@x.com", "203.0.113.5")
    t.attempt("email:new@x.com", "203.0.113.6")


def test_ipv6_rotation_inside_a_64_shares_a_bucket() -> None:
    t = throttle(sign_in_ip_max_failures=2)
    t.attempt("email:a@x.com", "2001:db8:1:2::1")
    t.failed("email:a@x.com", "2001:db8:1:2::1")
    t.attempt("email:b@x.com", "2001:db8:1:2:ffff::9")
    t.failed("email:b@x.com", "2001:db8:1:2:ffff::9")
    with pytest.raises(RateLimited):
        t.attempt("email:c@x.com", "2001:0db8:0001:0002:0:0:0:7")


@pytest.mark.parametrize(
    ("ip", "bucket"),
    [
        ("192.0.2.1", "192.0.2.1"),
        (" 192.0.2.1 ", "192.0.2.1"),
        ("2001:db8::1", "2001:db8::/64"),
        ("2001:DB8:0:0:1::1", "2001:db8::/64"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("fe80::1%eth0", "fe80::/64"),
        ("not an ip", None),  # no usable address: no per-IP bucket at all (S10)
        (None, None),
        ("", None),
    ],
)
def test_ip_bucket(ip: str | None, bucket: str | None) -> None:
    assert ip_bucket(ip) == bucket


def test_disabled_throttle_never_limits() -> None:
    t = throttle(throttle_sign_in=False, sign_in_max_failures=1)
    for _ in range(5):
        t.attempt("email:a@x.com", "10.0.0.1")
        t.failed("email:a@x.com", "10.0.0.1")
