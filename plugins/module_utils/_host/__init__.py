# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What only the host runs (the modules and the start runner, never the controller): the
async dir read and written, job files, processes, claims, the start, waiting, killing,
listing, pruning, the output log. Python 3.6 compatible."""
