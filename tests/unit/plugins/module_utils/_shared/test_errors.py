# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of plugins/module_utils/_shared/errors.py: JobError."""

from ansible_collections.asyncjobs.named.plugins.module_utils._shared import errors


def test_job_error_carries_message_and_result():
    e = errors.JobError('boom', ansible_job_id='j1.2', started=1)
    assert isinstance(e, Exception)
    assert e.msg == 'boom'
    assert str(e) == 'boom'
    assert e.result == {'ansible_job_id': 'j1.2', 'started': 1}


def test_job_error_without_result():
    e = errors.JobError('boom')
    assert e.result == {}
