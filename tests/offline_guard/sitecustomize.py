"""Block the network for every Python process of the test run, notebook kernels included.

`make test` puts this folder on PYTHONPATH and sets ATTNLIB_BLOCK_NETWORK=1, so any attempt to
resolve or connect to a host other than the loopback fails at once with a clear error, instead
of hanging or silently downloading. pytest-socket guards the test process itself the same way;
this file extends the guarantee to the Jupyter kernels that nbmake starts.
"""

import os
import socket

_LOOPBACK = {"127.0.0.1", "::1", "localhost", "0.0.0.0", ""}

if os.environ.get("ATTNLIB_BLOCK_NETWORK") == "1":
    _connect, _connect_ex, _getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def _check(host: object) -> None:
        if isinstance(host, bytes):
            host = host.decode()
        if host not in _LOOPBACK and not str(host).startswith("127."):
            raise ConnectionRefusedError(f"network access to {host!r} is blocked in the test run (offline guarantee)")

    def _guarded_connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _check(address[0])
        return _connect(self, address)

    def _guarded_connect_ex(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _check(address[0])
        return _connect_ex(self, address)

    def _guarded_getaddrinfo(host, *args, **kwargs):
        _check(host)
        return _getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = _guarded_connect
    socket.socket.connect_ex = _guarded_connect_ex
    socket.getaddrinfo = _guarded_getaddrinfo
