# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""CONTRIBUTING.md's "Architecture" matches the tree: it names every file of
plugins/module_utils (in its package's table) and of plugins/plugin_utils, and no file
that is not there."""

import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def section():
    with open(os.path.join(REPO, 'CONTRIBUTING.md'), encoding='utf-8') as f:
        text = f.read()
    start = text.index('## Architecture')
    return text[start:text.index('\n## ', start + 1)]


def files(*parts):
    d = os.path.join(REPO, *parts)
    return sorted(n for n in os.listdir(d) if n.endswith('.py') and n != '__init__.py')


def table(text, package):
    """The files of the table that follows the line naming ``plugins/module_utils/<package>/``."""
    start = text.index('\n`plugins/module_utils/%s/` (' % package)
    rows = re.findall(r'^\| `([\w.]+\.py)` \|', text[start:].split('\n\n', 2)[1], re.M)
    return sorted(rows)


def test_the_tables_name_every_module_utils_file():
    text = section()
    assert table(text, '_shared') == files('plugins', 'module_utils', '_shared')
    assert table(text, '_host') == files('plugins', 'module_utils', '_host')
    assert files('plugins', 'module_utils') == []  # nothing outside the two packages


def test_every_path_it_names_exists():
    text = section()
    for path in set(re.findall(r'`(?:plugin_utils|_host|_shared)/\w+\.py`', text)):
        path = path.strip('`')
        base = 'plugins' if path.startswith('plugin_utils') else os.path.join('plugins', 'module_utils')
        assert os.path.isfile(os.path.join(REPO, base, path)), path
    for name in files('plugins', 'plugin_utils'):
        assert '`%s`' % name in text, name
