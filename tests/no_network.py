"""Block the network in this Python process: a connection to anything but this machine raises.

The notebook tests run it in each kernel before the first cell (`tests/test_notebooks.py`), so a
lesson that downloads anything fails there as it would in a classroom without internet. Local
connections (loopback, Unix sockets) still work: the kernel's own channels use them.
"""

from __future__ import annotations

import ipaddress
import socket


class NetworkBlocked(OSError):
    """A connection to another machine, made while the network is blocked."""


_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}


def _is_local_host(host: object) -> bool:
    if host is None:  # a passive lookup, for a socket that listens here
        return True
    if not isinstance(host, str):
        return False
    if host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _is_local(family: int, address: object) -> bool:
    if family == getattr(socket, "AF_UNIX", None):
        return True
    host = address[0] if isinstance(address, tuple) and address else address
    return _is_local_host(host)


def _refuse(what: object) -> NetworkBlocked:
    return NetworkBlocked(
        f"network access blocked: lessons must run offline (tests/no_network.py); "
        f"tried to reach {what!r}"
    )


def block() -> None:
    """Make connections and name lookups for other machines raise `NetworkBlocked`."""
    connect, connect_ex = socket.socket.connect, socket.socket.connect_ex
    getaddrinfo = socket.getaddrinfo

    def guarded_connect(self, address):
        if not _is_local(self.family, address):
            raise _refuse(address)
        return connect(self, address)

    def guarded_connect_ex(self, address):
        if not _is_local(self.family, address):
            raise _refuse(address)
        return connect_ex(self, address)

    def guarded_getaddrinfo(host, *args, **kwargs):
        if not _is_local_host(host.decode() if isinstance(host, bytes) else host):
            raise _refuse(host)
        return getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = guarded_connect
    socket.socket.connect_ex = guarded_connect_ex
    socket.getaddrinfo = guarded_getaddrinfo


if __name__ == "__main__":  # run as a file (runpy.run_path) by the notebook kernels
    block()
