# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one error of asyncjobs.named: a problem to report as a failed task.

Private to the collection. Runs on the target too: Python 3.6 compatible.
"""


class JobError(Exception):
    """A problem to report as a failed task with this message (never a traceback), and the
    keys of ``result`` (what became of the job: its id, its name, ...)."""

    def __init__(self, msg, **result):
        super(JobError, self).__init__(msg)
        self.msg = msg
        self.result = result
