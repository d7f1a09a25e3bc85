# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the controller (action plugins) and the host (modules, the start runner) both use:
the job model, names and their validation, the argument specs, the names of the async dir's
entries, the ``jobs`` option, the failpoints. Nothing here does I/O on a host's async dir or
imports anything of ``_host``. Runs on the target too: Python 3.6 compatible."""
