# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The author and the attributes that every module of the collection shares. A module
    # gives an attribute again to add to it (its details); the module's keys win.
    DOCUMENTATION = r'''
options: {}
author:
  - asyncjobs.named maintainers (@asyncjobs-named)
attributes:
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
'''
