"""Whether a URL may receive the service's events: `https`, and a host that is a public
address (API.md "Events": a literal private, loopback, link-local or metadata address,
or a name resolving to one, is refused). Pure: the caller resolves names and passes the
addresses in.

NOTE: the webhooks' URL check (issue 12, item 2) follows the same rules; the two should
be one function.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048
# Cloud metadata endpoints that are not in a private range.
METADATA_ADDRESSES = {ipaddress.ip_address("fd00:ec2::254")}


def url_host(url: str) -> str | None:
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def https_url_problem(url: str) -> str | None:
    """What is wrong with the URL's form (None: an https URL with a host)."""
    if len(url) > MAX_URL_LENGTH:
        return f"URL longer than {MAX_URL_LENGTH} characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError:
        return "not a URL"
    if parts.scheme != "https":
        return "must be an https:// URL"
    if not parts.hostname:
        return "the URL has no host"
    if parts.username is not None or parts.password is not None:
        return "credentials in the URL are not allowed; use the auth header"
    if any(c.isspace() for c in url):
        return "the URL contains whitespace"
    return None


def address_problem(address: str) -> str | None:
    """Why events must not go to this IP address (None: a public address)."""
    try:
        ip = ipaddress.ip_address(address.strip("[]").split("%", 1)[0])
    except ValueError:
        return None  # a name, not an address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in METADATA_ADDRESSES or str(ip) == "169.254.169.254":
        return f"{ip} is a cloud metadata address"
    if ip.is_loopback:
        return f"{ip} is a loopback address"
    if ip.is_link_local:
        return f"{ip} is a link-local address"
    if ip.is_private or ip.is_reserved or ip.is_multicast or ip.is_unspecified:
        return f"{ip} is not a public address"
    if not ip.is_global:
        return f"{ip} is not a public address"
    return None


def public_url_problem(url: str, resolved: list[str]) -> str | None:
    """What keeps the URL from receiving events, given the addresses its host resolved to
    (none: a name that does not resolve yet, accepted)."""
    problem = https_url_problem(url)
    if problem:
        return problem
    host = url_host(url) or ""
    for address in [host, *resolved]:
        problem = address_problem(address)
        if problem:
            return f"must reach a public address: {problem}"
    return None
