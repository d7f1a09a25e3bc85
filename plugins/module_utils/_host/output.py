# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The output log of a command job: the stdout and stderr of the command, written while it
runs, beside the job file, so that a waiter (or ``tail -F``) can see what the job does.

Private to the collection. Imports nothing of Ansible: the writer runs inside the module
async_command on the host, the reader (``output_tails``) in any module. Python 3.6
compatible (no f-strings with '=', no walrus, no newer stdlib).

File name
=========
``<async dir>/.output-<token>.log`` (``output_log_path``), where the token is 1 to 64
letters, digits, ``_`` or ``-`` (a claim token, a jid prefix...). ``is_output_log`` and
``output_log_token`` recognise such a name. A cut (below) rewrites the log through a temp
file of the same dir named as every atomic write of the collection names its temp files,
``.<log name>.<12 hex>.tmp`` (``temp_name``/``temp_base``); one is left only when the
writer was killed during a cut.

Format (text, UTF-8, one record per line, readable with ``tail -F``)
====================================================================
::

    out: <a line the command wrote to stdout, without its newline>
    err: <a line the command wrote to stderr, without its newline>
    out+ <a piece of a stdout line; the line goes on in the next out record>
    err+ <a piece of a stderr line; the line goes on in the next err record>
    cut: <N> bytes of this log were cut here

- The tag is the first 4 characters (``out:``, ``out+``, ``err:``, ``err+``, ``cut:``),
  then one space, then the text. Nothing the command prints can start a line of its own:
  a reader splits the file at ``\\n`` only (not at ``\\r`` or other line breaks).
- Records are written in the order the output was read. The two streams are separate
  pipes: writes to both that are close together (less than the reader's round, at most
  a few milliseconds when the host is not overloaded) may be read stdout first.
- A line is written as soon as its newline arrives. A line that waits longer than
  ``FLUSH_AFTER`` seconds for its newline (a prompt, progress dots) is written as a
  ``+`` piece, as is each ``piece_size(limit)`` bytes (at most 8 KiB) of a long line, so
  every record is short. At the end of a stream, its unterminated last line is written as
  a ``:`` record (an empty one when only its pieces were left).
- Bytes that are not UTF-8 are written as ``\\xNN`` (Python's backslashreplace).
- Size bound: when the next write would take the log past its limit (``_output_limit``,
  default 100 MB), the log is rewritten (temp file in the same dir, then rename: a
  reader sees the old or the new file, never a half-written one) as its first records
  (up to a quarter of the limit, kept from the first cut on), one ``cut:`` record with the
  total number of log bytes cut so far, and its most recent records (up to a quarter of
  the limit). The log never exceeds the limit. ``tail -f`` follows the file it opened,
  which a cut replaces: use ``tail -F``, which follows the name.

Nothing here cuts the job's own result: only the log is bounded.
"""

import codecs
import errno
import os
import re
import threading
import time

from ansible_collections.asyncjobs.named.plugins.module_utils._shared.entries import (
    DEFAULT_LIMIT, MIN_LIMIT, temp_name)

# A partial line is written as a piece after waiting this long (seconds) for its newline.
FLUSH_AFTER = 1.0
# How much of the end of a log output_tails reads at most, bytes.
TAIL_MAX_BYTES = 1024 * 1024

STREAMS = ('out', 'err')
CUT_RE = re.compile(br'^cut: ([0-9]+) bytes')


def piece_size(limit):
    """The longest piece of a line in one record, bytes of output: 8 KiB, less for a small
    limit, so that the kept start and end of a cut log always hold whole records."""
    return max(64, min(8192, limit // 64))


# --------------------------------------------------------------------------
# Writer

class _Stream:
    def __init__(self, tag):
        self.tag = tag
        self.decoder = codecs.getincrementaldecoder('utf-8')(errors='backslashreplace')
        self.pending = b''      # the start of a line, not written yet
        self.since = None       # when its first byte came
        self.open_piece = False  # the last record written was a piece of an unfinished line
        self.ended = False


class OutputLog:
    """Writes the log of one command (see the module docstring for the format).

    ``feed(stream, data)`` with ``stream`` 'out' or 'err' and ``data`` the bytes read
    (``b''``: the stream ended); ``flush_stale()`` writes the partial lines that have
    waited ``flush_after`` seconds; ``close()`` ends both streams and closes the file.
    The file is created (truncated if it exists; not through a symlink) with mode 0600 by
    the constructor. Errors are OSError; the caller decides what a failed log means
    (OutputCapture gives up the log and lets the command run on).
    """

    def __init__(self, path, limit=DEFAULT_LIMIT, flush_after=FLUSH_AFTER, clock=time.time,
                 piece=None):
        if limit < MIN_LIMIT:
            raise ValueError('the output log limit must be at least %d bytes, not %d'
                             % (MIN_LIMIT, limit))
        self.path = path
        self.limit = limit
        self.piece = piece or piece_size(limit)
        self.flush_after = flush_after
        self.clock = clock
        self.size = 0
        self.cut_bytes = 0        # log bytes cut so far
        self._head_len = None     # after the first cut: length of the kept start
        self._marker_len = 0      # length of the cut record after it
        self._streams = dict((s, _Stream(s)) for s in STREAMS)
        flags = os.O_RDWR | os.O_CREAT | os.O_TRUNC | getattr(os, 'O_NOFOLLOW', 0)
        self._fd = os.open(path, flags, 0o600)
        try:
            os.fchmod(self._fd, 0o600)  # a file that was there keeps its mode otherwise
        except OSError:
            os.close(self._fd)
            raise

    # -- records -------------------------------------------------------------

    def _record(self, st, text, complete):
        st.open_piece = not complete
        return ('%s%s %s\n' % (st.tag, ':' if complete else '+', text)).encode('utf-8')

    def _line_records(self, st, line, out):
        """Records of a complete line (``line`` ends with its newline)."""
        body = line[:-1]
        while len(body) > self.piece:
            out.append(self._record(st, st.decoder.decode(body[:self.piece]), False))
            body = body[self.piece:]
        # With its newline, bytes of an unfinished character are written, not kept.
        out.append(self._record(st, st.decoder.decode(body + b'\n')[:-1], True))

    def feed(self, stream, data):
        st = self._streams[stream]
        if st.ended:
            return
        out = []
        if not data:
            self._end(st, out)
        else:
            buf = st.pending + data
            start = 0
            while True:
                nl = buf.find(b'\n', start)
                if nl < 0:
                    break
                self._line_records(st, buf[start:nl + 1], out)
                start = nl + 1
            rest = buf[start:]
            new_partial = start > 0 or not st.pending
            while len(rest) >= self.piece:
                out.append(self._record(st, st.decoder.decode(rest[:self.piece]), False))
                rest = rest[self.piece:]
                new_partial = True
            st.pending = rest
            if not rest:
                st.since = None
            elif new_partial:
                st.since = self.clock()
        self._append(b''.join(out))

    def _end(self, st, out):
        text = st.decoder.decode(st.pending, True)
        if st.pending or st.open_piece or text:
            out.append(self._record(st, text, True))
        st.pending, st.since, st.ended = b'', None, True

    def flush_stale(self, now=None):
        """Write, as pieces, the partial lines that waited ``flush_after`` seconds."""
        now = self.clock() if now is None else now
        out = []
        for name in STREAMS:
            st = self._streams[name]
            if st.pending and st.since is not None and now - st.since >= self.flush_after:
                out.append(self._record(st, st.decoder.decode(st.pending), False))
                st.pending, st.since = b'', None
        self._append(b''.join(out))

    def close(self):
        """End both streams (their partial lines are written) and close the file."""
        if self._fd is None:
            return
        try:
            out = []
            for name in STREAMS:
                if not self._streams[name].ended:
                    self._end(self._streams[name], out)
            self._append(b''.join(out))
        finally:
            fd, self._fd = self._fd, None
            os.close(fd)

    # -- the file ------------------------------------------------------------

    def _append(self, blob):
        if not blob:
            return
        if self.size + len(blob) > self.limit:
            self._cut(blob)
        else:
            _write_all(self._fd, blob)
            self.size += len(blob)

    def _cut(self, blob):
        """Rewrite the log as its start, a cut record and its end, with ``blob`` (the next
        records) written after the end: through a temp file and a rename."""
        quarter = self.limit // 4
        if self._head_len is None:
            # First cut: keep the whole records of the first quarter of (file + blob).
            self._head_len = _LogicalContent(self._fd, self.size, blob).rfind_newline(0, quarter) + 1
            self._marker_len = 0
        body_start = self._head_len + self._marker_len
        content = _LogicalContent(self._fd, self.size, blob)
        body_len = content.size - body_start
        keep_from = max(0, body_len - quarter)
        if keep_from > 0:
            # Keep from the first record that starts in the last quarter.
            nl = content.find_newline(body_start + keep_from - 1, body_len - keep_from + 1)
            keep_from = keep_from + nl if nl >= 0 else body_len
        cut_bytes = self.cut_bytes + keep_from
        marker = ('cut: %d bytes of this log were cut here\n' % cut_bytes).encode('ascii')
        directory, base = os.path.split(self.path)
        tmp = os.path.join(directory, temp_name(base))
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, 'O_NOFOLLOW', 0), 0o600)
        try:
            content.copy_to(fd, 0, self._head_len)
            _write_all(fd, marker)
            content.copy_to(fd, body_start + keep_from, body_len - keep_from)
            os.rename(tmp, self.path)
        except BaseException:
            os.close(fd)
            _unlink_quietly(tmp)
            raise
        old, self._fd = self._fd, fd
        os.close(old)
        self.cut_bytes = cut_bytes
        self._marker_len = len(marker)
        self.size = self._head_len + len(marker) + body_len - keep_from


class _LogicalContent:
    """The log file as it is (``size`` bytes of ``fd``) followed by ``blob``, read without
    writing the blob first."""

    CHUNK = 1024 * 1024
    SEARCH = 64 * 1024

    def __init__(self, fd, size, blob):
        self.fd, self.file_size, self.blob = fd, size, blob
        self.size = size + len(blob)

    def chunks(self, offset, length, chunk=CHUNK):
        end = min(self.size, offset + length)
        while offset < end:
            if offset < self.file_size:
                n = min(end, self.file_size) - offset
                data = _pread(self.fd, min(n, chunk), offset)
                if not data:
                    raise OSError(errno.EIO, 'the output log shrank while being cut')
            else:
                b = offset - self.file_size
                data = self.blob[b:b + min(end - offset, chunk)]
            yield data
            offset += len(data)

    def find_newline(self, offset, length):
        """Index (from ``offset``) of the first newline in ``length`` bytes, or -1."""
        done = 0
        for data in self.chunks(offset, length, self.SEARCH):
            nl = data.find(b'\n')
            if nl >= 0:
                return done + nl
            done += len(data)
        return -1

    def rfind_newline(self, offset, length):
        """Index (from ``offset``) of the last newline in ``length`` bytes, or -1."""
        end = offset + length
        while end > offset:
            start = max(offset, end - self.SEARCH)
            nl = b''.join(self.chunks(start, end - start)).rfind(b'\n')
            if nl >= 0:
                return start - offset + nl
            end = start
        return -1

    def copy_to(self, fd, offset, length):
        for data in self.chunks(offset, length):
            _write_all(fd, data)


def _pread(fd, n, offset):
    if hasattr(os, 'pread'):
        return os.pread(fd, n, offset)
    os.lseek(fd, offset, os.SEEK_SET)  # pragma: no cover (every POSIX Python 3 has pread)
    return os.read(fd, n)


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _unlink_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


# --------------------------------------------------------------------------
# Capture: the log of a process that AnsibleModule.run_command reads

# The most a pipe can hold on Linux by default (/proc/sys/fs/pipe-max-size): what is left
# in a pipe when run_command stops reading is read up to this, in one call.
REST_MAX = 1 << 20


class _Tee:
    """Stands for one of a Popen's pipes (``cmd.stdout``/``cmd.stderr``): what the reader
    reads from it is also fed to the log. run_command uses ``fileno``, ``read`` and
    ``close``; anything else goes to the pipe.

    ``close`` first reads what the pipe still holds, without waiting, into the capture's
    ``rest``. ansible-core's run_command stops reading when one of its 1 s select() calls
    timed out and the command has exited: a last line that the command wrote between
    that timeout and its exit would be lost."""

    def __init__(self, pipe, stream, capture):
        self._pipe = pipe
        self._stream = stream
        self._capture = capture

    def fileno(self):
        return self._pipe.fileno()

    def read(self, *args):
        data = self._pipe.read(*args)
        if data is not None:
            self._capture.feed(self._stream, data)
        return data

    def close(self):
        try:
            # run_command made the pipe non-blocking; a blocking one could wait for a
            # background child that holds it
            rest = None if os.get_blocking(self._pipe.fileno()) else self._pipe.read(REST_MAX)
        except (OSError, ValueError):
            rest = None
        if rest:
            self._capture.rest[self._stream] = rest
            self._capture.feed(self._stream, rest)
        self._pipe.close()

    def __getattr__(self, name):
        return getattr(self._pipe, name)


class OutputCapture:
    """The whole output of one command run by ``AnsibleModule.run_command``, and its
    output log when ``path`` is given:

        capture = OutputCapture(path, limit)
        rc, out, err = module.run_command(..., encoding=None,
                                          before_communicate_callback=capture.attach)
        capture.close()
        out, err = out + capture.rest['out'], err + capture.rest['err']
        if capture.error: module.warn(...)

    ``attach(popen)`` puts a tee in front of the Popen's stdout and stderr, which
    run_command reads right after, and, with a log, starts a thread that writes partial
    lines that wait too long. The output run_command reads, its decoding, the return code
    and the moment it stops reading stay exactly run_command's: the tee copies what is
    read, and when run_command closes a pipe, keeps what the pipe still held in ``rest``
    (bytes, by stream; see ``_Tee``). A log that cannot be written is given up (``error``
    says why): the command runs on, and ``attach`` never raises (run_command would report
    a failure to execute).
    """

    def __init__(self, path=None, limit=DEFAULT_LIMIT, flush_after=FLUSH_AFTER, tick=0.25):
        self.path = path
        self.limit = limit
        self.flush_after = flush_after
        self.tick = tick
        self.error = None
        self.rest = {'out': b'', 'err': b''}
        self._log = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None

    def attach(self, popen):
        popen.stdout = _Tee(popen.stdout, 'out', self)
        popen.stderr = _Tee(popen.stderr, 'err', self)
        if self.path is None:
            return
        try:
            self._log = OutputLog(self.path, self.limit, flush_after=self.flush_after)
            self._thread = threading.Thread(target=self._flusher, name='output-log-flush')
            self._thread.daemon = True
            self._thread.start()
        except Exception as e:  # pylint: disable=broad-except
            self._fail(e)

    def _fail(self, e):
        """Give the log up (called with the lock held, or before the thread runs)."""
        if self.error is None:
            self.error = 'output log %s: %s' % (self.path, e)
        log, self._log = self._log, None
        if log is not None:
            try:
                log.close()
            except Exception:  # pylint: disable=broad-except
                pass

    def feed(self, stream, data):
        with self._lock:
            if self._log is None:
                return
            try:
                self._log.feed(stream, data)
            except Exception as e:  # pylint: disable=broad-except
                self._fail(e)

    def _flusher(self):
        while not self._stop.wait(self.tick):
            with self._lock:
                if self._log is None:
                    return
                try:
                    self._log.flush_stale()
                except Exception as e:  # pylint: disable=broad-except
                    self._fail(e)

    def close(self):
        """Stop the thread, write what is left, close the log."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        with self._lock:
            log, self._log = self._log, None
            if log is not None:
                try:
                    log.close()
                except Exception as e:  # pylint: disable=broad-except
                    self._fail(e)


# --------------------------------------------------------------------------
# Reader

def _parse(data):
    """(out lines, err lines) of the records in ``data``, which starts at a record; a
    line whose first pieces are before it shows only its end."""
    lines = dict((s, []) for s in STREAMS)
    partial = dict((s, None) for s in STREAMS)
    records = data.split(b'\n')
    records.pop()  # after the last newline: nothing, or a record being written
    for rec in records:
        tag = rec[:4]
        if tag in (b'out:', b'err:', b'out+', b'err+') and rec[4:5] == b' ':
            stream = tag[:3].decode('ascii')
            text = rec[5:].decode('utf-8', 'replace')
            if tag[3:] == b':':
                pieces = partial[stream]
                lines[stream].append(''.join(pieces) + text if pieces else text)
                partial[stream] = None
            else:
                partial[stream] = (partial[stream] or []) + [text]
        elif CUT_RE.match(rec):
            for stream in STREAMS:
                if partial[stream]:
                    lines[stream].append(''.join(partial[stream]))
                partial[stream] = None
    for stream in STREAMS:
        if partial[stream]:
            lines[stream].append(''.join(partial[stream]))  # the line being written
    return lines['out'], lines['err']


def output_tails(path, lines=10, max_bytes=TAIL_MAX_BYTES):
    """(stdout_tail, stderr_tail): the last ``lines`` lines of each stream in the output log
    ``path``, oldest first, as text; the last one may be a line still being written.

    Reads from the end of the file, at most ``max_bytes`` of it (the window doubles from
    64 KiB until both streams have enough lines): cheap on a big log, but a stream's lines
    older than that window are not found. Empty lists when there is no log (yet).
    """
    if lines <= 0:
        return [], []
    try:
        f = open(path, 'rb')
    except (IOError, OSError) as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            return [], []
        raise
    with f:
        size = os.fstat(f.fileno()).st_size
        window = min(64 * 1024, max_bytes)
        while True:
            window = min(window, size, max_bytes)
            start = size - window
            # One byte more: a newline there means the window starts at a record.
            f.seek(max(0, start - 1))
            data = f.read(window + (1 if start else 0))
            if start:
                nl = data.find(b'\n')
                data = data[nl + 1:] if nl >= 0 else b''
            out, err = _parse(data)
            if not start or window >= max_bytes or (len(out) > lines and len(err) > lines):
                return out[-lines:], err[-lines:]
            window *= 2
