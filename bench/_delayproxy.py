# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A network a region away, for benchmarks: a TCP proxy that delays every chunk it forwards
by a fixed time in each direction (``tc netem`` is not in this kernel), and a private
network namespace joined to this one by a veth pair, so that a controller run in it reaches
the SSH target only through the proxy.

    ns = NetNamespace('ajbench')        # ip netns + veth: 10.231.0.1 here, .2 there
    proxy = DelayProxy((ns.outer_ip, 0), ('127.0.0.1', 2222), one_way=0.020)
    port = proxy.start()                # forwards in a thread of this process
    subprocess.run(ns.command(['ansible-playbook', ...]))   # ip netns exec ...
    proxy.stop(); ns.remove()

The delay is latency, not a bandwidth limit: a chunk read at t is written at t + one_way,
in order; chunks read meanwhile follow it without waiting for it. Round trip = 2 x one_way.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading


class DelayProxy:
    """Forward TCP connections from ``listen`` to ``target``, each chunk ``one_way``
    seconds late in each direction. ``start()`` returns the listening port."""

    def __init__(self, listen, target, one_way):
        self.listen = listen
        self.target = target
        self.one_way = one_way
        self.loop = None
        self.server = None
        self.thread = None
        self.connections = 0

    def start(self):
        ready = threading.Event()
        failure = []

        def serve():
            self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self.loop)
            try:
                self.server = self.loop.run_until_complete(asyncio.start_server(
                    self._accept, self.listen[0], self.listen[1]))
            except Exception as e:  # pylint: disable=broad-except
                failure.append(e)
                ready.set()
                return
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=serve, name='delay-proxy', daemon=True)
        self.thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self.server.sockets[0].getsockname()[1]

    def stop(self):
        if self.loop is None:
            return

        def close():
            self.server.close()
            for task in asyncio.all_tasks(self.loop):
                task.cancel()
            self.loop.call_later(0.1, self.loop.stop)
        self.loop.call_soon_threadsafe(close)
        self.thread.join(5)

    async def _accept(self, client_reader, client_writer):
        self.connections += 1
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.close()
            return
        try:
            await asyncio.gather(self._pipe(client_reader, server_writer),
                                 self._pipe(server_reader, client_writer),
                                 return_exceptions=True)
        except asyncio.CancelledError:
            pass  # stop(): the connections are dropped
        for w in (client_writer, server_writer):
            w.close()

    async def _pipe(self, reader, writer):
        loop = asyncio.get_running_loop()
        queue = asyncio.Queue()

        async def read():
            while True:
                try:
                    data = await reader.read(65536)
                except OSError:
                    data = b''
                queue.put_nowait((loop.time() + self.one_way, data))
                if not data:
                    return

        async def write():
            while True:
                due, data = await queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()

        await asyncio.gather(read(), write())


class NetNamespace:
    """A network namespace ``name`` with its loopback up and a veth pair to this namespace:
    ``outer_ip`` here, ``inner_ip`` in it (a /30 of 10.231.0.0/16). Needs root."""

    def __init__(self, name, subnet=0):
        self.name = name
        self.outer = 'ajb%do' % subnet
        self.inner = 'ajb%di' % subnet
        base = 4 * subnet
        self.outer_ip = '10.231.%d.%d' % (base // 256, base % 256 + 1)
        self.inner_ip = '10.231.%d.%d' % (base // 256, base % 256 + 2)
        self.made = False

    def _ip(self, *args, check=True):
        return subprocess.run(('ip',) + args, capture_output=True, text=True, check=check)

    def create(self):
        self.remove()
        self._ip('netns', 'add', self.name)
        self.made = True
        self._ip('link', 'add', self.outer, 'type', 'veth', 'peer', 'name', self.inner)
        self._ip('link', 'set', self.inner, 'netns', self.name)
        self._ip('addr', 'add', self.outer_ip + '/30', 'dev', self.outer)
        self._ip('link', 'set', self.outer, 'up')
        for args in (('addr', 'add', self.inner_ip + '/30', 'dev', self.inner),
                     ('link', 'set', self.inner, 'up'), ('link', 'set', 'lo', 'up')):
            self._ip('netns', 'exec', self.name, 'ip', *args)
        return self

    def command(self, argv):
        """``argv`` run in the namespace."""
        return ['ip', 'netns', 'exec', self.name] + list(argv)

    def remove(self):
        self._ip('link', 'del', self.outer, check=False)
        self._ip('netns', 'del', self.name, check=False)
        self.made = False
