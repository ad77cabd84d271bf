"""Where callbacks may go, and how a delivery connects: nothing here leaves loopback.

The address checks run on resolved addresses (a resolver of the test's own stands
for DNS, so names that resolve to internal addresses are tested without a DNS
server); the deliveries go to real receivers on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from ipaddress import ip_address, ip_network
from pathlib import Path

import pytest

from grader.service.callback_policy import CallbackPolicy, resolve, why_internal
from grader.service.callbacks import DeliveryFailed, deliver_once
from grader.service.config import WorkerConfig
from grader.service.db import NewJob, QueueLimits, Store
from grader.service.errors import CallbackRefused
from grader.service.identity import Owner
from grader.service.webhooks import verify

from .service_support import Receiver

pytestmark = pytest.mark.service

INTERNAL = {
    "127.0.0.1": "a loopback address",
    "127.255.0.9": "a loopback address",
    "::1": "a loopback address",
    "::ffff:127.0.0.1": "a loopback address",  # IPv4-mapped IPv6
    "2002:7f00:1::": "a loopback address",  # 6to4 of 127.0.0.1
    "10.0.0.1": "a private address",
    "172.16.5.4": "a private address",
    "192.168.1.1": "a private address",
    "::ffff:192.168.1.1": "a private address",
    "fc00::1": "a private address",  # unique local
    "fd12:3456::1": "a private address",
    "169.254.169.254": "a link-local address",  # cloud metadata
    "fe80::1": "a link-local address",
    "224.0.0.1": "a multicast address",
    "239.1.2.3": "a multicast address",
    "ff02::1": "a multicast address",
    "0.0.0.0": "the unspecified address",
    "::": "the unspecified address",
    "240.0.0.1": "a private address",  # reserved (Python files it under private too)
    "64:ff9b::7f00:1": "a reserved address",  # NAT64 of 127.0.0.1
    "100.64.0.1": "not a public address",  # carrier-grade NAT
    "192.0.2.1": "a private address",  # documentation
    "2001:db8::1": "a private address",  # documentation
    "2001::1": "a private address",  # Teredo
}
PUBLIC = ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


def resolver(table: dict[str, list[str]]) -> Callable[[str, int], list[str]]:
    """DNS as the test says: each name to its addresses (a literal to itself)."""

    def lookup(host: str, _port: int) -> list[str]:
        if host in table:
            return table[host]
        ip_address(host)  # a literal address, or a name the test did not expect
        return [host]

    return lookup


@pytest.mark.parametrize("address", sorted(INTERNAL))
def test_internal_addresses_are_named(address: str) -> None:
    assert why_internal(ip_address(address)) == INTERNAL[address]


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert why_internal(ip_address(address)) is None
    host = f"[{address}]" if ":" in address else address
    assert CallbackPolicy().target(f"https://{host}/hook").address == address


def test_names_are_judged_by_every_address_they_resolve_to() -> None:
    policy = CallbackPolicy(resolver=resolver({
        "metadata.test": ["169.254.169.254"],
        "mixed.test": ["93.184.215.14", "10.0.0.7"],  # one public, one private: refused
        "six.test": ["2606:4700:4700::1111", "fd00::5"],
        "good.test": ["93.184.215.14", "2606:4700:4700::1111"],
        "nothing.test": [],
    }))  # fmt: skip
    for url, reason in (
        ("http://metadata.test/latest", "resolves to 169.254.169.254, which is a link-local"),
        ("http://mixed.test:8080/x", "resolves to 10.0.0.7, which is a private address"),
        ("https://six.test/", "resolves to fd00::5, which is a private address"),
        ("http://nothing.test/", "does not resolve"),
    ):  # fmt: skip
        with pytest.raises(CallbackRefused) as refused:
            policy.target(url)
        assert reason in refused.value.message, url
    target = policy.target("https://good.test:8443/hook?x=1")
    assert (target.host, target.port, target.address) == ("good.test", 8443, "93.184.215.14")


def test_real_resolution_of_loopback_names() -> None:
    """The real resolver: localhost and the numeric forms of 127.0.0.1 all land on loopback."""
    assert "127.0.0.1" in resolve("localhost", 80)
    assert resolve("2130706433", 80) == ["127.0.0.1"]  # 127.0.0.1 as one number
    assert resolve("0x7f.1", 80) == ["127.0.0.1"]
    for url in ("http://localhost/", "http://2130706433/", "http://0x7f.1/", "http://[::1]/"):
        with pytest.raises(CallbackRefused) as refused:
            CallbackPolicy().target(url)
        assert "a loopback address" in refused.value.message


def test_an_allowed_range_lets_callbacks_in_and_only_there() -> None:
    policy = CallbackPolicy([ip_network("127.0.0.1/32"), ip_network("fd00::/8")])
    assert policy.target("http://127.0.0.1:9000/").address == "127.0.0.1"
    assert policy.target("http://[::ffff:127.0.0.1]:9000/").address == "::ffff:127.0.0.1"
    assert policy.target("http://[fd00::1]/").address == "fd00::1"
    for outside in ("http://127.0.0.2/", "http://[::1]/", "http://10.0.0.1/", "http://[fc00::1]/"):
        with pytest.raises(CallbackRefused):
            policy.target(outside)


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "gopher://127.0.0.1/", "http://", "/relative", "http://x:99999/",
     "http://exa mple.org/", "http://a/" + "x" * 3000],
)  # fmt: skip
def test_malformed_urls_are_refused_before_any_lookup(url: str) -> None:
    def never(_host: str, _port: int) -> list[str]:
        raise AssertionError("no lookup for a malformed URL")

    with pytest.raises(CallbackRefused):
        CallbackPolicy(resolver=never).target(url)


@pytest.fixture
def finished_job(tmp_path: Path) -> Iterator[Callable[[str], tuple[Store, str]]]:
    """A store with one done job whose callback goes to ``url``."""
    stores: list[Store] = []

    def make(url: str) -> tuple[Store, str]:
        store = Store(f"sqlite:///{tmp_path / 'cb.db'}")
        stores.append(store)
        token = store.tokens.find(store.tokens.create("cs101")[0])
        assert token is not None
        new = NewJob(course="cs101", token_id=token[0], student=None, filename="m.py",
                     source=b"x = 1\n", settings_json="{}", grading_key="k",
                     callback_url=url)  # fmt: skip
        job = store.jobs.create_one(new, QueueLimits())[0].id
        assert store.jobs.claim_next("w", Owner.current(), 30) is not None
        store.jobs.finish(job, "w", '{"score": 1}', "passed", 0.1)
        return store, job

    yield make
    for store in stores:
        store.close()


def test_a_delivery_connects_to_the_address_it_checked(
    receiver: Callable[..., Receiver], finished_job: Callable[[str], tuple[Store, str]]
) -> None:
    """The URL's name resolves (for the test) to 127.0.0.1, which is allowed; no DNS server
    knows it, so the request can only reach the receiver if it connects to the checked
    address, and the name still goes in the Host header."""
    hook = receiver()
    store, job = finished_job(f"http://grader-callback.test:{hook.port}/hook")
    policy = CallbackPolicy([ip_network("127.0.0.1/32")],
                            resolver=resolver({"grader-callback.test": ["127.0.0.1"]}))  # fmt: skip
    deliver_once(store, job, WorkerConfig(), final=True, policy=policy)
    assert len(hook.received) == 1
    headers, body = hook.received[0]
    assert headers["host"] == f"grader-callback.test:{hook.port}"
    verify(store.tokens.secrets("cs101")[0], body, headers)
    assert store.reads.job(job).callback_status == "delivered"  # type: ignore[union-attr]


def test_a_name_that_resolves_elsewhere_at_delivery_is_refused_there(
    receiver: Callable[..., Receiver], finished_job: Callable[[str], tuple[Store, str]]
) -> None:
    """DNS rebinding: accepted while the name pointed at an allowed address, the callback
    is not sent once it points at a refused one (127.0.0.2, outside the allowed range,
    where a receiver listens)."""
    hook = receiver()
    store, job = finished_job(f"http://rebind.test:{hook.port}/hook")
    answers = {"rebind.test": ["127.0.0.1"]}
    policy = CallbackPolicy([ip_network("127.0.0.1/32")], resolver=resolver(answers))
    assert policy.target(f"http://rebind.test:{hook.port}/hook").address == "127.0.0.1"
    answers["rebind.test"] = ["127.0.0.2"]
    with pytest.raises(DeliveryFailed, match=r"127\.0\.0\.2, which is a loopback address"):
        deliver_once(store, job, WorkerConfig(), final=True, policy=policy)
    assert hook.received == []
    record = store.reads.job(job)
    assert record is not None and record.callback_status == "failed"
