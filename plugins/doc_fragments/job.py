# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The options that three or more modules share, worded once. A module lists the ones
    # it takes (asyncjobs.named.job.alias, .jid, .tail_lines) in
    # extends_documentation_fragment, and gives an option again only to add to it
    # (required: true); the module's keys win.
    DOCUMENTATION = r'''
options: {}
'''

    ALIAS = r'''
options:
  alias:
    description:
      - The job's name (the name of its link C(jid_<alias>) in the async dir). Letters,
        digits, C(_), C(-) and C(.), not starting with C(.), at most 128 characters.
    type: str
'''

    JID = r'''
options:
  jid:
    description:
      - The job id, as an async task returns it in C(ansible_job_id) (C(j123456789012.4242),
        or 16 hex digits for a job of Mitogen for Ansible's runner).
    type: str
'''

    TAIL_LINES = r'''
options:
  tail_lines:
    description:
      - While a job runs, how many of the last lines of its standard output and of its
        standard error to return, when its output is captured (the command forms of
        M(asyncjobs.named.async_task)); V(0) returns none. With C(no_log), none are
        returned.
    type: int
    default: 10
'''
