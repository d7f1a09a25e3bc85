# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The author and every attribute of the collection's modules, described once. A module
    # gives an attribute again only to add to it (its details, or other support); the
    # module's keys win.
    DOCUMENTATION = r'''
options: {}
author:
  - asyncjobs.named maintainers (@asyncjobs-named)
attributes:
  action:
    description: Whether the module has an action plugin, which runs on the controller (and validates the options there) before the module runs on the host.
    support: full
  async:
    description: Whether the task can be given the C(async) keyword.
    support: none
  bypass_host_loop:
    description: Whether the task runs once for all the hosts of the play instead of once per host.
    support: none
  check_mode:
    description: Whether the module can run in check mode, reporting what it would do and changing nothing.
    support: full
  diff_mode:
    description: Whether the module returns a diff of what it changed (or would change, in check mode).
    support: none
  platform:
    description: The target systems the module runs on.
    support: N/A
    platforms: posix
'''

    # The attributes of a module that no task runs directly: only the action plugin of
    # async_task runs it. Listed before asyncjobs.named.attributes (the first one given
    # wins).
    RUN_BY_ASYNC_TASK = r'''
options: {}
attributes:
  action:
    support: none
    details: It has no action plugin; only the action of M(asyncjobs.named.async_task) runs it.
'''
