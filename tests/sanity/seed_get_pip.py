#!/usr/bin/env python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Seed ansible-test's pip bootstrap cache with locally built get-pip scripts.

Run with the Python of the virtualenv that holds ansible-test (see run-sanity.sh).

Why: every sanity test runs in its own virtualenv that ansible-test creates with
``python -m venv --without-pip`` and then bootstraps by running a ``get-pip.py``
that it downloads from ci-files.testing.ansible.com.  That host is not reachable
from our machines (only package registries are).  ansible-test first looks for the
script in ``~/.ansible/test/cache/get_pip_<version>.py`` and, when the download
fails, tells the user to save it there by hand: that cache file is the supported
hook, and this script fills it.

The script written there does what the upstream get-pip.py does: it runs pip from
the pip wheel embedded in it (the exact pip version that ansible-test pins,
fetched from PyPI by the caller's pip) and makes that pip install itself and the
other requested packages into the new virtualenv.

Second problem solved here: ansible-test runs pip with a scrubbed environment
(only PATH, HOME, LC_ALL and a few others survive), so index, find-links and
certificate settings given through ``PIP_*`` / ``SSL_CERT_FILE`` /
``REQUESTS_CA_BUNDLE`` variables are lost, while settings from pip's config files
are kept.  The pip settings found in the caller's environment are therefore
recorded in the generated script, which applies them to its own pip run and
writes them to the new virtualenv's own ``pip.conf`` (pip's "site" config), so
the ``pip install -r ...`` that ansible-test runs next in that virtualenv sees
them too.  Nothing outside ``~/.ansible/test`` is touched.

Idempotent: a cache file is rewritten only when its content would change; a
cache file that this script did not write (e.g. a real get-pip.py) is left alone.
"""

from __future__ import annotations

import argparse
import base64
import glob
import hashlib
import os
import subprocess
import sys
import tempfile
import types

OWNER = '# generated-by: asyncjobs.named tests/sanity/seed_get_pip.py'

# pip options that may come from the environment and matter for reaching an index.
# Values are the [global] keys of pip.conf.
PIP_ENV_SETTINGS = (
    'index-url',
    'extra-index-url',
    'find-links',
    'trusted-host',
    'cert',
    'client-cert',
    'proxy',
    'timeout',
    'default-timeout',
    'retries',
    'no-index',
    'prefer-binary',
)

# Python versions whose pip pins are looked up (the generated script needs Python 3);
# every distinct pin gets a script.
PYTHON_VERSIONS = ('3.6', '3.7', '3.8', '3.9', '3.10', '3.11', '3.12', '3.13', '3.14')

STANDIN_TEMPLATE = '''\
#!/usr/bin/env python
{marker}
# Local stand-in for ansible-test's get-pip-{pip_version}.py (why: see the docstring of
# tests/sanity/seed_get_pip.py in the asyncjobs.named collection). It embeds
# {wheel_name} (sha256 {wheel_sha256})
# and uses it to install pip into the running interpreter.
# Keep it compatible with old Pythons: it runs inside every new sanity virtualenv.
import base64
import os
import shutil
import sys
import tempfile

WHEEL_NAME = {wheel_name!r}
PIP_SETTINGS = {settings!r}


def write_site_config():
    """Make the settings persist for later pip runs inside this virtualenv."""
    if not PIP_SETTINGS or sys.prefix == getattr(sys, 'base_prefix', sys.prefix):
        return  # not a virtualenv: never write outside of one
    with open(os.path.join(sys.prefix, 'pip.conf'), 'w') as config:
        config.write('[global]\\n')
        for key, value in sorted(PIP_SETTINGS.items()):
            config.write('%s = %s\\n' % (key, value))


def main():
    args = [arg for arg in sys.argv[1:] if arg not in ('--no-setuptools', '--no-wheel')]
    for key, value in PIP_SETTINGS.items():
        os.environ.setdefault('PIP_' + key.upper().replace('-', '_'), value)
    write_site_config()
    tmpdir = tempfile.mkdtemp()
    try:
        wheel = os.path.join(tmpdir, WHEEL_NAME)
        with open(wheel, 'wb') as wheel_file:
            wheel_file.write(base64.b85decode(DATA.replace(b'\\n', b'')))
        # pip requested as "pip==X.Y" is taken from the embedded wheel itself
        args = [wheel if arg == 'pip==' + {pip_version!r} else arg for arg in args]
        sys.path.insert(0, wheel)
        from pip._internal.cli.main import main as pip_main
        status = pip_main(['install', '--upgrade', '--force-reinstall'] + args)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    sys.exit(status)


DATA = b"""
{data}
"""

if __name__ == '__main__':
    main()
'''


# The first line after the shebang: who wrote the file, and from which template.
MARKER = '%s, template %s' % (OWNER, hashlib.sha256(STANDIN_TEMPLATE.encode('utf-8')).hexdigest()[:12])


def pip_settings_from_environment(environ):
    """Return the pip settings that the caller's environment provides."""
    settings = {}

    for key in PIP_ENV_SETTINGS:
        value = environ.get('PIP_' + key.upper().replace('-', '_'))

        if value:
            settings[key] = value

    if 'cert' not in settings:
        for name in ('REQUESTS_CA_BUNDLE', 'SSL_CERT_FILE'):
            if environ.get(name) and os.path.isfile(environ[name]):
                settings['cert'] = environ[name]
                break

    return settings


def required_pip_versions():
    """Return the pip versions that this ansible-test bootstraps, by asking ansible-test itself."""
    try:
        from ansible_test._internal.python_requirements import get_venv_packages  # pylint: disable=import-outside-toplevel
    except ImportError as ex:
        sys.exit('seed_get_pip: cannot import ansible-test from %s (%s); run me with the python of the '
                 'virtualenv that holds ansible-test' % (sys.executable, ex))

    return sorted(set(get_venv_packages(types.SimpleNamespace(version=version))['pip'] for version in PYTHON_VERSIONS))


def download_pip_wheel(version, directory):
    """Fetch the pip wheel of the given version with the caller's pip (and so its settings)."""
    cmd = [sys.executable, '-m', 'pip', 'download', '--disable-pip-version-check', '--no-input', '-q',
           '--no-deps', '--only-binary=:all:', '--ignore-requires-python', '-d', directory, 'pip==%s' % version]
    subprocess.check_call(cmd)
    wheels = glob.glob(os.path.join(directory, 'pip-%s-*.whl' % version))

    if len(wheels) != 1:
        sys.exit('seed_get_pip: expected one pip %s wheel in %s, found %s' % (version, directory, wheels))

    return wheels[0]


def render(version, wheel_path, settings):
    """Return the content of the stand-in bootstrap script."""
    with open(wheel_path, 'rb') as wheel_file:
        wheel = wheel_file.read()

    encoded = base64.b85encode(wheel).decode('ascii')
    data = '\n'.join(encoded[i:i + 79] for i in range(0, len(encoded), 79))

    return STANDIN_TEMPLATE.format(
        marker=MARKER,
        pip_version=version,
        wheel_name=os.path.basename(wheel_path),
        wheel_sha256=hashlib.sha256(wheel).hexdigest(),
        settings=settings,
        data=data,
    )


def main():
    """Main entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--cache-dir', default=os.path.expanduser('~/.ansible/test/cache'))
    parser.add_argument('--force', action='store_true', help='also replace cache files not written by this script')
    options = parser.parse_args()

    settings = pip_settings_from_environment(os.environ)
    os.makedirs(options.cache_dir, exist_ok=True)

    for version in required_pip_versions():
        path = os.path.join(options.cache_dir, 'get_pip_%s.py' % version.replace('.', '_'))
        old = None

        if os.path.exists(path):
            with open(path, encoding='utf-8') as old_file:
                old = old_file.read()

            if OWNER not in old and not options.force:
                print('seed_get_pip: keeping %s (not ours, e.g. a real get-pip.py)' % path)
                continue

            # cheap check first: same template, pip version and settings mean the same content
            if MARKER + '\n' in old and 'PIP_SETTINGS = %r\n' % (settings,) in old:
                continue

        with tempfile.TemporaryDirectory(prefix='seed-get-pip-') as tmpdir:
            new = render(version, download_pip_wheel(version, tmpdir), settings)

        if new != old:
            with open(path + '.tmp', 'w', encoding='utf-8') as new_file:
                new_file.write(new)

            os.replace(path + '.tmp', path)
            print('seed_get_pip: wrote %s (pip %s from PyPI, pip settings: %s)' % (path, version, sorted(settings) or 'none'))


if __name__ == '__main__':
    main()
