# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of plugins/module_utils/_host/output.py: the output log of a command job.

On real files in real temp dirs, and real processes for the capture: the file name rule,
the writer's records (interleaved streams, partial lines written on time or size,
non-UTF-8 bytes, the end of a stream), the size bound (the cut record, the start and the
end kept, never past the limit, the rewrite through a temp file and a rename), the reader
(tails of each stream, pieces joined, a cut, a line being written, a 100 MB log read from
its end only), and OutputCapture in front of a real Popen's pipes read the way
run_command reads them.
"""

import ast
import os
import re
import selectors
import signal
import stat
import subprocess
import sys

import pytest

from ansible_collections.asyncjobs.named.plugins.module_utils._shared import entries, specs
from ansible_collections.asyncjobs.named.plugins.module_utils._host import output

from unit_helpers import FakeClock, temp_leftovers, wait_until


@pytest.fixture
def log_path(tmp_path):
    return str(tmp_path / entries.output_log_name('0123abcd'))


def content(path):
    with open(path, 'rb') as f:
        return f.read().decode('utf-8')


def write_log(path, feeds, limit=entries.DEFAULT_LIMIT, close=True, **kwargs):
    """An OutputLog of ``path`` fed ``feeds`` ((stream, bytes) pairs); closed or not."""
    log = output.OutputLog(path, limit, **kwargs)
    for stream, data in feeds:
        log.feed(stream, data)
    if close:
        log.close()
    return log


def test_imports_nothing_of_ansible():
    """The writer runs in async_command, the reader in any module or on the controller:
    only the standard library."""
    with open(output.__file__) as f:
        tree = ast.parse(f.read())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(a.name.split('.')[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split('.')[0])
    assert imported == {'ansible_collections', 'codecs', 'errno', 'os', 're',
                        'threading', 'time'}


def test_default_limit():
    """100 MB: async_command's _output_limit when not given (the spec has no default, as
    validate-modules wants for an undocumented option)."""
    assert entries.DEFAULT_LIMIT == 100 * 1024 * 1024
    assert specs.COMMAND_SPEC.argument_spec['_output_limit'] == dict(type='int')


# --- records ----------------------------------------------------------------------------------

def test_interleaved_streams_in_the_order_read(log_path):
    write_log(log_path, [('out', b'o1\n'), ('err', b'e1\n'), ('out', b'o2\no3\n'),
                         ('err', b'e2\n'), ('out', b''), ('err', b'')])
    assert content(log_path) == 'out: o1\nerr: e1\nout: o2\nout: o3\nerr: e2\n'


def test_a_line_in_several_reads_is_one_record(log_path):
    clock = FakeClock()
    log = write_log(log_path, [('out', b'hel'), ('err', b'oops\n'), ('out', b'lo wo')],
                    close=False, clock=clock.clock)
    assert content(log_path) == 'err: oops\n'   # the partial line waits for its newline
    clock.now += 0.5
    log.flush_stale()                            # not long enough
    log.feed('out', b'rld\nnext')
    assert content(log_path) == 'err: oops\nout: hello world\n'
    log.close()                                  # the end writes the unterminated line
    assert content(log_path) == 'err: oops\nout: hello world\nout: next\n'


def test_a_partial_line_is_written_after_flush_after(log_path):
    clock = FakeClock()
    log = write_log(log_path, [('out', b'Password: ')], close=False, clock=clock.clock,
                    flush_after=1.0)
    clock.now += 0.5
    log.flush_stale()
    assert content(log_path) == ''
    clock.now += 0.5
    log.flush_stale()
    assert content(log_path) == 'out+ Password: \n'
    log.feed('out', b'...')      # a new partial: its own wait
    clock.now += 0.5
    log.flush_stale()
    log.feed('out', b'ok\n')
    assert content(log_path) == 'out+ Password: \nout: ...ok\n'
    log.feed('err', b'dot')
    log.flush_stale(now=clock.now + 1)
    log.close()                  # only pieces were written: an empty record ends the line
    assert content(log_path) == 'out+ Password: \nout: ...ok\nerr+ dot\nerr: \n'


def test_the_wait_of_a_partial_line_starts_with_its_first_byte(log_path):
    clock = FakeClock()
    log = write_log(log_path, [('out', b'a')], close=False, clock=clock.clock)
    clock.now += 0.6
    log.feed('out', b'b')        # more of the same line: the wait goes on
    clock.now += 0.6
    log.flush_stale()
    assert content(log_path) == 'out+ ab\n'
    log.feed('out', b'c\nd')     # d starts a new line now
    clock.now += 0.6
    log.flush_stale()
    assert content(log_path) == 'out+ ab\nout: c\n'
    log.close()


def test_long_lines_are_written_in_pieces(log_path):
    limit = 4096                 # piece_size: 64 bytes of output
    assert output.piece_size(limit) == 64
    line = b''.join(b'%02d' % i for i in range(80))   # 160 bytes
    write_log(log_path, [('out', line[:100]), ('out', line[100:] + b'\nshort\n')], limit=limit)
    text = line.decode()
    assert content(log_path) == 'out+ %s\nout+ %s\nout: %s\nout: short\n' % (
        text[:64], text[64:128], text[128:])
    assert output.output_tails(log_path) == ([text, 'short'], [])


def test_piece_size():
    assert output.piece_size(entries.DEFAULT_LIMIT) == 8192
    assert output.piece_size(4096) == 64
    assert output.piece_size(64 * 1000) == 1000


def test_non_utf8_bytes_are_escaped(log_path):
    write_log(log_path, [('out', b'ok \xff\xfe bad\n'), ('err', b'\xe9t\xe9\n'),
                         ('out', b'caf\xc3\xa9 \xe2\x82\xac\n')])
    assert content(log_path) == 'out: ok \\xff\\xfe bad\nerr: \\xe9t\\xe9\nout: caf\u00e9 \u20ac\n'
    assert output.output_tails(log_path) == (['ok \\xff\\xfe bad', 'caf\u00e9 \u20ac'], ['\\xe9t\\xe9'])


def test_a_character_split_between_reads_stays_whole(log_path):
    euro = '\u20ac'.encode('utf-8')
    write_log(log_path, [('out', b'a' + euro[:1]), ('out', euro[1:2]), ('out', euro[2:] + b'\n')])
    assert content(log_path) == 'out: a\u20ac\n'


def test_a_character_split_between_pieces_stays_whole(log_path):
    clock = FakeClock()
    euro = '\u20ac'.encode('utf-8')
    log = write_log(log_path, [('out', b'price ' + euro[:2])], close=False, clock=clock.clock)
    log.flush_stale(now=clock.now + 5)
    log.feed('out', euro[2:] + b' 3\n')
    log.close()
    assert content(log_path) == 'out+ price \nout: \u20ac 3\n'
    assert output.output_tails(log_path) == (['price \u20ac 3'], [])


def test_an_unfinished_character_before_a_newline_or_the_end(log_path):
    write_log(log_path, [('out', b'cut \xe2\x82\nnext \xe2'), ('out', b'')])
    assert content(log_path) == 'out: cut \\xe2\\x82\nout: next \\xe2\n'


def test_other_line_breaks_stay_inside_a_record(log_path):
    write_log(log_path, [('out', b'50%\r100%\r\n'), ('err', u'a\x0bb\x1cc\u2028d\n'.encode('utf-8'))])
    assert content(log_path) == 'out: 50%\r100%\r\nerr: a\x0bb\x1cc\u2028d\n'
    assert output.output_tails(log_path) == (['50%\r100%\r'], ['a\x0bb\x1cc\u2028d'])


def test_nothing_after_a_stream_ended(log_path):
    write_log(log_path, [('out', b'x'), ('out', b''), ('out', b'late\n'), ('out', b'')])
    assert content(log_path) == 'out: x\n'


def test_empty_output_empty_log(log_path):
    write_log(log_path, [('out', b''), ('err', b'')])
    assert content(log_path) == ''
    assert output.output_tails(log_path) == ([], [])


def test_file_mode_truncation_and_no_symlink(tmp_path, log_path):
    with open(log_path, 'w') as f:
        f.write('old content\n')
    write_log(log_path, [('out', b'new\n')])
    assert content(log_path) == 'out: new\n'
    assert stat.S_IMODE(os.stat(log_path).st_mode) == 0o600
    target = tmp_path / 'target'
    target.write_text('not ours\n')
    link = str(tmp_path / '.output-link.log')
    os.symlink(str(target), link)
    with pytest.raises(OSError):
        output.OutputLog(link)
    assert target.read_text() == 'not ours\n'


def test_limit_below_the_minimum_refused(log_path):
    with pytest.raises(ValueError, match='at least 4096 bytes'):
        output.OutputLog(log_path, limit=4095)
    assert not os.path.exists(log_path)


# --- the size bound -----------------------------------------------------------------------------

def numbered(n, stream_of=lambda i: 'err' if i % 5 == 0 else 'out', width=0):
    return [(stream_of(i), b'line %06d%s\n' % (i, b'.' * width)) for i in range(n)]


def cut_parts(text):
    """(start, cut bytes, end) of a cut log."""
    m = re.search(r'^cut: ([0-9]+) bytes of this log were cut here\n', text, re.M)
    assert m, text[:500]
    return text[:m.start()], int(m.group(1)), text[m.end():]


@pytest.mark.parametrize('limit, width', [(4096, 0), (65536, 0), (65536, 300), (4096, 200)])
def test_cut_keeps_the_start_and_the_end(tmp_path, limit, width):
    feeds = numbered(6000, width=width)
    full_path, cut_path = str(tmp_path / 'full.log'), str(tmp_path / 'cut.log')
    write_log(full_path, feeds, limit=10 ** 12, piece=output.piece_size(limit))
    full = content(full_path)
    log = output.OutputLog(cut_path, limit)
    for stream, data in feeds:
        log.feed(stream, data)
        assert os.path.getsize(cut_path) <= limit   # never past the limit, at any time
    log.close()
    text = content(cut_path)
    start, cut, end = cut_parts(text)
    assert text.count('\ncut: ') + text.startswith('cut: ') == 1   # one cut record
    # the start and the end are whole records of the log as it would be without a limit
    assert full.startswith(start) and start.endswith('\n') and start
    assert full.endswith(end) and full[-len(end) - 1] == '\n' and end
    # the start is at most a quarter of the limit; the end, a quarter at the last cut, grew since
    assert len(start) <= limit // 4 and len(text) <= limit
    # the cut record counts what is missing
    assert cut == len(full.encode()) - len(start.encode()) - len(end.encode())
    assert log.cut_bytes == cut and log.size == len(text.encode())
    assert temp_leftovers(tmp_path) == []
    # the tails are those of the whole output (when the end holds enough lines of both)
    outs = [d.decode().rstrip('\n') for s, d in feeds if s == 'out']
    errs = [d.decode().rstrip('\n') for s, d in feeds if s == 'err']
    if not width:
        assert output.output_tails(cut_path, 5) == (outs[-5:], errs[-5:])
    else:
        assert output.output_tails(cut_path, 1)[0] == outs[-1:]


def test_one_read_bigger_than_the_limit(tmp_path, log_path):
    """A read of 200 KiB into a log of 4 KiB: cut at once, whole records kept."""
    chunk = b''.join(b'row %05d\n' % i for i in range(20000))
    write_log(log_path, [('out', b'first\n'), ('out', chunk), ('err', b'\xff' * 100 + b'\n')],
              limit=4096)
    text = content(log_path)
    assert len(text.encode()) <= 4096
    start, _cut, end = cut_parts(text)
    assert start.startswith('out: first\nout: row 00000\n')
    # the stderr line (400 bytes escaped) is in pieces of 64 bytes of output
    assert end.endswith('err+ ' + '\\xff' * 64 + '\nerr: ' + '\\xff' * 36 + '\n')
    assert output.output_tails(log_path, 1) == (['row 19999'], ['\\xff' * 100])


def test_cut_record_adds_up_over_several_cuts(log_path):
    log = output.OutputLog(log_path, 4096)
    total = 0
    cuts = set()
    for stream, data in numbered(2000):
        log.feed(stream, data)
        total += len(data) + 5
        cuts.add(log.cut_bytes)
    log.close()
    assert len(cuts) > 10   # many cuts
    start, cut, end = cut_parts(content(log_path))
    assert cut == total - len(start) - len(end)


def test_cut_is_a_rename_readers_never_see_half_a_file(tmp_path, log_path):
    log = output.OutputLog(log_path, 4096)
    feeds = iter(numbered(5000))
    before = os.stat(log_path).st_ino
    with open(log_path, 'rb') as reader:   # a reader that opened the log before the cut
        while log.cut_bytes == 0:
            stream, data = next(feeds)
            size = log.size
            log.feed(stream, data)
        old = reader.read()
    # the old file, as the reader holds it, is whole: every record before the cut
    assert len(old) == size and old.endswith(b'\n') and b'cut: ' not in old
    assert os.stat(log_path).st_ino != before   # a new file replaced it
    assert temp_leftovers(tmp_path) == []
    # the writer goes on in the new file
    log.feed('out', b'after the cut\n')
    log.close()
    assert content(log_path).endswith('out: after the cut\n')


def test_a_failed_cut_leaves_no_temp_file(tmp_path, log_path, monkeypatch):
    log = output.OutputLog(log_path, 4096)

    def no_rename(src, dst):
        raise OSError(28, 'No space left on device')
    monkeypatch.setattr(output.os, 'rename', no_rename)
    with pytest.raises(OSError, match='No space left'):
        for stream, data in numbered(1000):
            log.feed(stream, data)
    assert temp_leftovers(tmp_path) == []
    assert os.path.getsize(log_path) <= 4096
    assert 'cut: ' not in content(log_path)


# --- tails --------------------------------------------------------------------------------------

def test_tails_missing_log(tmp_path):
    assert output.output_tails(str(tmp_path / '.output-none.log')) == ([], [])
    assert output.output_tails(str(tmp_path / 'no-dir' / '.output-none.log')) == ([], [])


def test_tails_last_lines_of_each_stream(log_path):
    write_log(log_path, numbered(100))
    outs = ['line %06d' % i for i in range(100) if i % 5]
    errs = ['line %06d' % i for i in range(100) if i % 5 == 0]
    assert output.output_tails(log_path) == (outs[-10:], errs[-10:])
    assert output.output_tails(log_path, lines=3) == (outs[-3:], errs[-3:])
    assert output.output_tails(log_path, lines=1000) == (outs, errs)
    assert output.output_tails(log_path, lines=0) == ([], [])


def test_tails_of_a_running_command(log_path):
    """The line being written (its pieces so far) is the last; a record being written
    (no newline yet) is not read."""
    clock = FakeClock()
    log = write_log(log_path, [('out', b'one\n'), ('out', b'Continue? [y/n] ')], close=False,
                    clock=clock.clock)
    log.flush_stale(now=clock.now + 2)
    with open(log_path, 'ab') as f:
        f.write(b'err: half a rec')
    assert output.output_tails(log_path) == (['one', 'Continue? [y/n] '], [])


def test_tails_across_a_cut(log_path):
    with open(log_path, 'wb') as f:
        f.write(b'out: first\nout+ start of a line\ncut: 100 bytes of this log were cut here\n'
                b'out+ end of \nout+ another \nout: line\nerr: e\n')
    assert output.output_tails(log_path) == (['first', 'start of a line', 'end of another line'],
                                             ['e'])


def test_tails_skip_unknown_records(log_path):
    with open(log_path, 'wb') as f:
        f.write(b'out: a\n\nbogus\nout:no space\nerr: \xff\nout: b\n')
    assert output.output_tails(log_path) == (['a', 'b'], ['\ufffd'])


def test_tails_window_starting_inside_a_line(log_path):
    """The window grows from 64 KiB: a line that started before it is not cut short when
    enough lines follow it, and a window that starts on a record boundary loses nothing."""
    long_piece = 'x' * 100
    records = ['out+ %s\n' % long_piece] * 2000 + ['out: end\n'] + ['out: l%d\n' % i for i in range(20)]
    records += ['err: only\n']
    with open(log_path, 'w') as f:
        f.write(''.join(records))
    outs, errs = output.output_tails(log_path, 3)
    assert outs == ['l17', 'l18', 'l19'] and errs == ['only']
    outs, _errs = output.output_tails(log_path, 21)
    assert outs[0] == long_piece * 2000 + 'end'   # read back to its first piece


def test_tails_of_a_big_log_read_from_its_end(tmp_path):
    """A 100 MB log: the tails come from at most max_bytes of its end (a stderr line older
    than that is not found), fast, and the whole file is read only when asked."""
    path = str(tmp_path / '.output-big.log')
    block = b''.join(b'out: %s %06d\n' % (b'x' * 80, i) for i in range(1000))
    with open(path, 'wb') as f:
        f.write(b'err: long ago\n')
        for _block in range(100 * 1024 * 1024 // len(block)):
            f.write(block)
        f.write(b'err: recent\nout: last\n')
    assert os.path.getsize(path) > 100 * 1000 * 1000
    outs, errs = output.output_tails(path, 2)
    assert outs == ['x' * 80 + ' 000999', 'last'] and errs == ['recent']
    reads = []
    real_open = open

    class CountingFile:
        def __init__(self, f):
            self.f = f

        def read(self, n):
            reads.append(n)
            return self.f.read(n)

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    output.open = lambda p, mode: CountingFile(real_open(p, mode))
    try:
        assert output.output_tails(path, 2) == (outs, errs)
        # windows of 64 KiB, 128 KiB... up to max_bytes, each with one byte more
        assert sum(reads) < 2 * output.TAIL_MAX_BYTES + 16
        del reads[:]
        assert output.output_tails(path, 2, max_bytes=128 * 1024) == (outs, errs)
        assert sum(reads) < 3 * 64 * 1024 + 16
    finally:
        del output.open


def test_tails_max_bytes(log_path):
    with open(log_path, 'wb') as f:
        f.write(b'err: old\n' + b'out: filler line\n' * 20000 + b'out: last\n')
    assert output.output_tails(log_path, 1, max_bytes=64 * 1024) == (['last'], [])
    assert output.output_tails(log_path, 1, max_bytes=1024 * 1024) == (['last'], ['old'])


# --- capture in front of a real process ------------------------------------------------------------

def read_like_run_command(popen):
    """Read a Popen's stdout and stderr as AnsibleModule.run_command does (selector,
    non-blocking reads of 32 KiB, stop once the process exited and nothing came for a
    second); (stdout, stderr)."""
    import fcntl
    out, err = b'', b''
    sel = selectors.PollSelector()
    sel.register(popen.stdout, selectors.EVENT_READ)
    sel.register(popen.stderr, selectors.EVENT_READ)
    for f in (popen.stdout, popen.stderr):
        fcntl.fcntl(f.fileno(), fcntl.F_SETFL, fcntl.fcntl(f.fileno(), fcntl.F_GETFL) | os.O_NONBLOCK)
    while True:
        events = sel.select(1)
        for key, _event in events:
            chunk = key.fileobj.read(32768)
            if chunk is None:
                continue
            if not chunk:
                sel.unregister(key.fileobj)
            elif key.fileobj == popen.stdout:
                out += chunk
            elif key.fileobj == popen.stderr:
                err += chunk
        if (not events or not sel.get_map()) and popen.poll() is not None:
            break
        if not sel.get_map() and popen.poll() is None:
            popen.wait()
            break
    popen.stdout.close()
    popen.stderr.close()
    sel.close()
    return out, err


def run_captured(capture, script):
    popen = subprocess.Popen([sys.executable, '-c', script], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    capture.attach(popen)
    out, err = read_like_run_command(popen)
    capture.close()
    return popen.returncode, out, err


SCRIPT = r'''
import os, sys, time
for i in range(3):
    os.write(1, b"out %d\n" % i); time.sleep(0.25)
    os.write(2, b"err %d\n" % i); time.sleep(0.25)
os.write(1, b"\xff" * 70000 + b"\n")
os.write(1, b"no newline")
sys.exit(3)
'''


def test_capture_leaves_the_output_whole_and_logs_it(log_path):
    capture = output.OutputCapture(log_path, flush_after=60)
    rc, out, err = run_captured(capture, SCRIPT)
    assert rc == 3 and capture.error is None
    assert out == b'out 0\nout 1\nout 2\n' + b'\xff' * 70000 + b'\nno newline'
    assert err == b'err 0\nerr 1\nerr 2\n'
    records = content(log_path).splitlines()
    assert records[:6] == ['out: out 0', 'err: err 0', 'out: out 1', 'err: err 1', 'out: out 2',
                           'err: err 2']
    assert records[-1] == 'out: no newline'
    outs, errs = output.output_tails(log_path)
    assert outs == ['out 0', 'out 1', 'out 2', '\\xff' * 70000, 'no newline']
    assert errs == ['err 0', 'err 1', 'err 2']


def test_capture_with_a_small_limit_cuts_only_the_log(log_path):
    capture = output.OutputCapture(log_path, limit=4096)
    rc, out, _err = run_captured(capture, SCRIPT)
    assert rc == 3 and len(out) == 70000 + 29
    assert os.path.getsize(log_path) <= 4096
    assert 'cut: ' in content(log_path)


def test_capture_shows_output_while_the_process_runs(tmp_path, log_path):
    """Lines, and a partial line after flush_after, are in the log before the process ends."""
    gate = tmp_path / 'gate'
    gate.write_text('')
    script = ('import os, time, sys\nos.write(1, b"started\\n")\nos.write(2, b"Continue? ")\n'
              'while os.path.exists(%r): time.sleep(0.02)\nos.write(1, b"done\\n")\n' % str(gate))
    popen = subprocess.Popen([sys.executable, '-c', script], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    capture = output.OutputCapture(log_path, flush_after=0.2, tick=0.05)
    capture.attach(popen)
    import threading
    result = {}
    reader = threading.Thread(target=lambda: result.update(out=read_like_run_command(popen)))
    reader.start()
    try:
        wait_until(lambda: output.output_tails(log_path) == (['started'], ['Continue? ']),
                   timeout=10, what='the output in the log')
        assert popen.poll() is None
    finally:
        gate.unlink()
        reader.join(20)
    capture.close()
    assert result['out'] == (b'started\ndone\n', b'Continue? ')
    records = content(log_path).splitlines()
    # both streams end together: their last records come in the order read
    assert records[:2] == ['out: started', 'err+ Continue? ']
    assert sorted(records[2:]) == ['err: ', 'out: done']


def test_capture_without_a_log_runs_the_command(tmp_path):
    """A log that cannot be created: the command runs and is read as without a capture."""
    capture = output.OutputCapture(str(tmp_path / 'missing-dir' / '.output-x.log'))
    popen = subprocess.Popen([sys.executable, '-c', 'print("hello")'], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    capture.attach(popen)
    assert read_like_run_command(popen) == (b'hello\n', b'')
    capture.close()
    assert capture.rest == {'out': b'', 'err': b''}
    assert capture.error.startswith('output log %s: ' % capture.path)
    assert 'No such file or directory' in capture.error


def test_capture_keeps_what_the_pipes_held_when_reading_stopped(log_path, late_select):
    """run_command stopped reading on a timed-out wait after the process had exited: what
    the pipes held is in ``rest``, and in the log."""
    capture = output.OutputCapture(log_path)
    rc, out, err = run_captured(capture, 'import os\nos.write(1, b"one\\ntwo")\nos.write(2, b"e")\n')
    assert (rc, out, err) == (0, b'', b'')   # all the reader read
    assert len(late_select) == 1
    assert capture.rest == {'out': b'one\ntwo', 'err': b'e'} and capture.error is None
    assert output.output_tails(log_path) == (['one', 'two'], ['e'])


def test_capture_keeps_the_rest_without_a_log(tmp_path, late_select):
    capture = output.OutputCapture()
    rc, out, _err = run_captured(capture, 'import os\nos.write(1, b"last line\\n")\n')
    assert (rc, out) == (0, b'') and capture.rest == {'out': b'last line\n', 'err': b''}
    assert capture.error is None and os.listdir(str(tmp_path)) == []


def test_rest_does_not_wait_for_a_background_child(late_select):
    """A child that holds the pipes after the process exited: the rest is what the pipes
    hold when run_command closes them; closing does not wait for the child."""
    capture = output.OutputCapture()
    script = ('import os, subprocess\n'
              'child = subprocess.Popen(["sleep", "30"])\n'
              'os.write(1, b"%d\\n" % child.pid)\n')
    rc, out, _err = run_captured(capture, script)
    child = int(capture.rest['out'])
    try:
        assert rc == 0 and out == b''
        os.kill(child, 0)   # still running: the capture closed without waiting for it
    finally:
        os.kill(child, signal.SIGKILL)


def test_capture_gives_the_log_up_when_writing_fails(log_path, monkeypatch):
    capture = output.OutputCapture(log_path)
    real_feed = output.OutputLog.feed
    calls = []

    def failing_feed(self, stream, data):
        calls.append(stream)
        if len(calls) == 2:
            raise OSError(28, 'No space left on device')
        return real_feed(self, stream, data)
    monkeypatch.setattr(output.OutputLog, 'feed', failing_feed)
    rc, out, err = run_captured(capture, SCRIPT)
    assert (rc, len(out), err) == (3, 70029, b'err 0\nerr 1\nerr 2\n')   # all read
    assert capture.error == 'output log %s: [Errno 28] No space left on device' % log_path
    assert content(log_path) == 'out: out 0\n'   # what was written before
    assert len(calls) == 2   # given up: nothing more fed
