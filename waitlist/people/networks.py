"""A visitor's connection as the limits and the referral checks compare it: an IPv4 address, or
the /64 an IPv6 address is in (a household or an office is handed a whole /64, and picks any
address in it)."""

import ipaddress


def network(ip: str | None) -> str | None:
    """ "203.0.113.7" as it is; "2001:db8:1:2:aaaa::1" as "2001:db8:1:2::/64"; an IPv4 address
    written as IPv6 ("::ffff:203.0.113.7") as the IPv4 address."""
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if address.version == 6:
        if address.ipv4_mapped:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def same(a: str | None, b: str | None) -> bool:
    """Both known, and one connection."""
    return bool(a and b) and network(a) == network(b)
