#!/usr/bin/env python3
"""Check the changelog as Ansible collections keep it, without changing the repository.

usage: .ci/changelog_check.py [REPO]   (run with the python of .venv-docs, which has
antsibull-changelog, ansible-core and PyYAML; `make changelog` does)

1. ``antsibull-changelog lint`` on the fragments and ``lint-changelog-yaml`` on
   changelogs/changelog.yaml.
2. Our rules for the fragments of the version being prepared (galaxy.yml's version):
   - a release not yet in changelog.yaml needs a ``release_summary``;
   - new modules are announced by their ``version_added``, so no entry of
     major_changes / minor_changes / bugfixes / deprecated_features / removed_features /
     breaking_changes may be about a module that is new in that version (an entry
     ``"async_task - ..."`` names the module(s) before `` - ``): such an entry either
     announces the module again or describes changes to code that was never released.
3. ``antsibull-changelog release`` in a temporary copy of the working tree (the files
   git tracks plus the untracked ones it does not ignore): it must succeed and write
   CHANGELOG.rst and CHANGELOG.md that hold the version, the release summary and every
   new module under "New Modules". The repository is compared before and after (git
   status), so a run that changed it fails.

Works on whatever fragments exist: nothing here names a particular fragment.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

# Sections in which an entry about a module new in this release is not allowed.
NOT_FOR_NEW_MODULES = ('major_changes', 'minor_changes', 'bugfixes', 'breaking_changes',
                       'deprecated_features', 'removed_features')


def sh(cmd, cwd, env=None):
    print('changelog: $ %s' % ' '.join(cmd), flush=True)
    return subprocess.run(cmd, cwd=cwd, env=env, check=False).returncode


def module_versions(repo):
    """{module name: version_added} read from the DOCUMENTATION of plugins/modules/*.py."""
    import ast
    found = {}
    mod_dir = os.path.join(repo, 'plugins', 'modules')
    for name in sorted(os.listdir(mod_dir)):
        if not name.endswith('.py') or name == '__init__.py':
            continue
        with open(os.path.join(mod_dir, name), encoding='utf-8') as f:
            tree = ast.parse(f.read())
        for node in tree.body:
            if (isinstance(node, ast.Assign) and len(node.targets) == 1
                    and getattr(node.targets[0], 'id', None) == 'DOCUMENTATION'):
                doc = yaml.safe_load(ast.literal_eval(node.value))
                found[name[:-3]] = str(doc.get('version_added', ''))
    return found


def check_fragments(repo, version, released):
    errors = []
    frag_dir = os.path.join(repo, 'changelogs', 'fragments')
    fragments = sorted(f for f in os.listdir(frag_dir) if f.endswith(('.yml', '.yaml')))
    new_modules = {m for m, v in module_versions(repo).items() if v == version}
    have_summary = False
    for frag in fragments:
        with open(os.path.join(frag_dir, frag), encoding='utf-8') as f:
            data = yaml.safe_load(f) or {}
        if data.get('release_summary'):
            have_summary = True
        for section in NOT_FOR_NEW_MODULES:
            for entry in data.get(section) or []:
                head = entry.split(' - ', 1)[0] if ' - ' in entry else ''
                named = {n.strip().rsplit('.', 1)[-1] for n in re.split(r'[,/]| and ', head)}
                hit = sorted(named & new_modules)
                if hit:
                    errors.append('%s: %s entry about %s, new in %s: new modules are announced '
                                  'by version_added, and code that was never released has no '
                                  'changes to report: %r' % (frag, section, ', '.join(hit),
                                                             version, entry[:100]))
    if version not in released and not have_summary:
        errors.append('no fragment has a release_summary for %s, the first release of it' % version)
    print('changelog: %d fragment(s); modules new in %s: %s'
          % (len(fragments), version, ', '.join(sorted(new_modules)) or 'none'))
    return errors, new_modules


def git_state(repo):
    return subprocess.run(['git', 'status', '--porcelain', '--untracked-files=all'], cwd=repo,
                          capture_output=True, text=True, check=True).stdout


def copy_worktree(repo, dest):
    files = subprocess.run(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'],
                           cwd=repo, capture_output=True, check=True).stdout.split(b'\0')
    for rel in (f.decode() for f in files if f):
        src = os.path.join(repo, rel)
        if not os.path.lexists(src):  # deleted in the working tree, not yet committed
            continue
        os.makedirs(os.path.dirname(os.path.join(dest, rel)) or dest, exist_ok=True)
        shutil.copy2(src, os.path.join(dest, rel), follow_symlinks=False)


def main():
    repo = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else '.')
    bindir = os.path.dirname(sys.executable)
    tool = os.path.join(bindir, 'antsibull-changelog')
    # antsibull-changelog runs ansible-doc from PATH to list the plugins: the venv's own
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get('PATH', ''))
    errors = []

    if sh([tool, 'lint'], repo, env) != 0:
        errors.append('antsibull-changelog lint failed')
    if sh([tool, 'lint-changelog-yaml', 'changelogs/changelog.yaml'], repo, env) != 0:
        errors.append('antsibull-changelog lint-changelog-yaml failed')

    with open(os.path.join(repo, 'galaxy.yml'), encoding='utf-8') as f:
        version = str(yaml.safe_load(f)['version'])
    with open(os.path.join(repo, 'changelogs', 'changelog.yaml'), encoding='utf-8') as f:
        released = {str(v) for v in (yaml.safe_load(f).get('releases') or {})}
    frag_errors, new_modules = check_fragments(repo, version, released)
    errors += frag_errors

    before = git_state(repo)
    tmp = tempfile.mkdtemp(prefix='changelog-release-')
    try:
        copy_worktree(repo, tmp)
        if sh([tool, 'release', '--version', version], tmp, env) != 0:
            errors.append('antsibull-changelog release failed (in a copy, %s)' % tmp)
        else:
            for name in ('CHANGELOG.rst', 'CHANGELOG.md'):
                path = os.path.join(tmp, name)
                if not os.path.isfile(path):
                    errors.append('the release wrote no %s' % name)
                    continue
                with open(path, encoding='utf-8') as f:
                    text = f.read().replace('\\', '')  # the Markdown escapes . _ - and others
                want = ['v%s' % version, 'New Modules'] + ['asyncjobs.named.%s' % m for m in sorted(new_modules)]
                if version not in released:
                    want.append('Release Summary')
                missing = [w for w in want if w not in text]
                if missing:
                    errors.append('%s lacks %s' % (name, ', '.join(missing)))
                else:
                    print('changelog: release %s wrote %s (%d lines)' % (version, name, text.count('\n')))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if git_state(repo) != before:
        errors.append('the check changed the repository (git status differs)')

    for e in errors:
        print('changelog: ERROR: %s' % e, file=sys.stderr)
    print('changelog: %s' % ('FAILED' if errors else 'lint, rules and release in a copy passed'))
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main())
