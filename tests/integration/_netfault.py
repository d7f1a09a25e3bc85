# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A TCP proxy in front of the test sshd that can break the connections going through it,
as a network does: ``cut()`` resets them (both ends get a RST), ``freeze()`` stops
forwarding on them (nothing arrives any more, nothing is closed: a network that stops
answering). New connections are forwarded as usual. No kernel support needed (tc netem is
not in this kernel)."""

import select
import socket
import struct
import threading


class FaultProxy:
    def __init__(self, target=('127.0.0.1', 2222)):
        self.target = target
        self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(('127.0.0.1', 0))
        self.server.listen(16)
        self.port = self.server.getsockname()[1]
        self.pairs = []          # [client socket, server socket, frozen flag]
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                client, _addr = self.server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            pair = [client, upstream, threading.Event()]
            with self.lock:
                self.pairs.append(pair)
            threading.Thread(target=self._pump, args=(pair,), daemon=True).start()

    def _pump(self, pair):
        client, upstream, frozen = pair
        ends = {client: upstream, upstream: client}
        try:
            while not self.closed:
                if frozen.is_set():
                    frozen.wait(0.5)
                    if self.closed:
                        return
                    continue
                ready, _w, _x = select.select(list(ends), [], [], 0.2)
                if frozen.is_set():
                    continue  # what arrived now is never delivered
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    ends[sock].sendall(data)
        except OSError:
            return
        finally:
            if not frozen.is_set():
                for sock in (client, upstream):
                    try:
                        sock.close()
                    except OSError:
                        pass

    def _live(self):
        with self.lock:
            return list(self.pairs)

    def cut(self):
        """Reset every connection now open: both ends get a RST, as from a middlebox."""
        for client, upstream, _frozen in self._live():
            for sock in (client, upstream):
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
                    sock.close()
                except OSError:
                    pass

    def freeze(self):
        """Stop forwarding on every connection now open, without closing anything."""
        for _client, _upstream, frozen in self._live():
            frozen.set()

    def close(self):
        """Stop the proxy; the frozen connections are reset (the network comes back and
        the peers find their connections gone)."""
        self.closed = True
        try:
            self.server.close()
        except OSError:
            pass
        self.cut()
