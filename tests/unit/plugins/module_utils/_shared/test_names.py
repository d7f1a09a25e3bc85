# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of plugins/module_utils/_shared/names.py: the rules of job names and ids, their
validation, and the paths of the async dir's entries they name."""

import pytest

from ansible_collections.asyncjobs.named.plugins.module_utils._shared import errors, names


HELP = ('letters, digits, "_", "-" and ".", not starting with ".", at most 128 characters')
EMPTY_ALIAS_MSG = 'alias must be a non-empty string of ' + HELP


def bad_alias_msg(alias):
    return 'invalid alias %r: use only %s' % (alias, HELP)


def bad_jid_msg(jid):
    return ('invalid jid %r: a job id looks like "j123456789012.4242" '
            '(async_wrapper: optional "j", digits, ".", digits) or "66c6c6863f27278e" (Mitogen for Ansible: 16 hex digits)' % (jid,))


# --- constants -----------------------------------------------------------------------------------

def test_alias_help_matches_documentation():
    assert names.ALIAS_HELP == HELP
    assert names.ALIAS_MAX_LEN == 128
    assert names.ALIAS_PREFIX == 'jid_'


# --- JobError ------------------------------------------------------------------------------------

# --- alias_error ---------------------------------------------------------------------------------

@pytest.mark.parametrize('alias', [
    'a',
    'blah',
    'migrate',
    'A-b_c.d',
    '_leading_underscore',
    '-leading-dash',
    '0',
    '42',
    'a..b',
    'trailing.',
    'migrate.v2',
    'x' * 128,
])
def test_alias_error_accepts(alias):
    assert names.alias_error(alias) is None


@pytest.mark.parametrize('alias', [
    '.hidden',
    '.',
    '..',
    'a/b',
    '../x',
    '/abs',
    'a b',
    ' a',
    'a\tb',
    'a\nb',
    'a\n',
    'a*',
    'a:b',
    'a$b',
    'caf\u00e9',
    '\u0661',
    'x' * 129,
])
def test_alias_error_rejects(alias):
    assert names.alias_error(alias) == bad_alias_msg(alias)


@pytest.mark.parametrize('alias', ['', None, 1, 1.5, b'abc', ['a'], {'a': 1}, True])
def test_alias_error_not_a_string(alias):
    assert names.alias_error(alias) == EMPTY_ALIAS_MSG


# --- jid_error -----------------------------------------------------------------------------------

@pytest.mark.parametrize('jid', [
    'j123456789012.4242',
    'j360874038559.4169',
    '123456789012.4242',  # ansible before the "j" prefix
    'j0.0',
    '1.1',
])
def test_jid_error_accepts(jid):
    assert names.jid_error(jid) is None


@pytest.mark.parametrize('jid', [
    '',
    'j',
    'j123',
    '123',
    'j123.',
    '.42',
    'jj1.2',
    'J1.2',
    'k1.2',
    'j1.2.3',
    'j1..2',
    'j1.-2',
    'j1.2 ',
    ' j1.2',
    'j1.2\n',
    'j1.2/x',
    '../j1.2',
    'jid_blah',
    'j1.2.jid_blah',
    'j\u0661.2',
])
def test_jid_error_rejects(jid):
    assert names.jid_error(jid) == bad_jid_msg(jid)


@pytest.mark.parametrize('jid', [None, 12.3, 1, b'j1.2', ['j1.2']])
def test_jid_error_not_a_string(jid):
    assert names.jid_error(jid) == bad_jid_msg(jid)


# --- validate ------------------------------------------------------------------------------------

@pytest.mark.parametrize('kwargs', [
    {},
    {'alias': None, 'jid': None},
    {'alias': 'blah'},
    {'jid': 'j1.2'},
    {'alias': 'blah', 'jid': 'j123456789012.4242'},
])
def test_validate_accepts(kwargs):
    assert names.validate(**kwargs) is None


@pytest.mark.parametrize('kwargs, msg', [
    ({'alias': '.x'}, bad_alias_msg('.x')),
    ({'alias': ''}, EMPTY_ALIAS_MSG),
    ({'jid': 'nope'}, bad_jid_msg('nope')),
    ({'alias': 'ok', 'jid': 'nope'}, bad_jid_msg('nope')),
    ({'alias': 'a/b', 'jid': 'j1.2'}, bad_alias_msg('a/b')),
    # both bad: the alias is reported first
    ({'alias': 'a/b', 'jid': 'nope'}, bad_alias_msg('a/b')),
])
def test_validate_rejects(kwargs, msg):
    with pytest.raises(errors.JobError) as exc:
        names.validate(**kwargs)
    assert exc.value.msg == msg
    assert exc.value.result == {}


# --- jid_prefix, job_path, alias_path ------------------------------------------------------------

@pytest.mark.parametrize('jid, prefix', [
    ('j123456789012.4242', 'j123456789012'),
    ('123456789012.4242', '123456789012'),
    ('j1.2', 'j1'),
    # Mitogen's jobs have no wrapper and so no prefix; nor has what is not a job id
    ('66c6c6863f27278e', None),
    ('j1.2.3', None),
    ('j1', None),
])
def test_jid_prefix(jid, prefix):
    assert names.jid_prefix(jid) == prefix


@pytest.mark.parametrize('async_dir, jid, path', [
    ('/root/.ansible_async', 'j1.2', '/root/.ansible_async/j1.2'),
    ('/root/.ansible_async/', 'j1.2', '/root/.ansible_async/j1.2'),
    ('relative', 'j1.2', 'relative/j1.2'),
])
def test_job_path(async_dir, jid, path):
    assert names.job_path(async_dir, jid) == path


@pytest.mark.parametrize('async_dir, alias, path', [
    ('/root/.ansible_async', 'blah', '/root/.ansible_async/jid_blah'),
    ('/root/.ansible_async/', 'a.b-c_d', '/root/.ansible_async/jid_a.b-c_d'),
])
def test_alias_path(async_dir, alias, path):
    assert names.alias_path(async_dir, alias) == path


# --- inside_dir ----------------------------------------------------------------------------------
