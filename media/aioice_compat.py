"""aioice's host-candidate gathering, patched for loopback-only hosts (aioice 0.13.0).

aioice never offers 127.0.0.1. On a host whose only interface is loopback
(CI containers, a laptop offline) no candidate pair could ever form, so when
no other IPv4 address exists the loopback address is offered too (browsers
then need ``--allow-loopback-in-peer-connection``). aioice has no option for
this, so its module-level address lookup is wrapped, once, from here.
"""

from collections.abc import Callable

import aioice.ice

_original: Callable[[bool, bool], list[str]] = aioice.ice.get_host_addresses


def _with_loopback(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    addresses = _original(use_ipv4, use_ipv6)
    if use_ipv4 and not any(":" not in a for a in addresses):
        addresses.append("127.0.0.1")
    return addresses


def offer_loopback_when_alone() -> None:
    """Install the wrapper (idempotent)."""
    aioice.ice.get_host_addresses = _with_loopback
