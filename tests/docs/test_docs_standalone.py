#!/usr/bin/env python3
"""The docs stand alone (issue: nothing a user needs may live outside the repository).
 * README.md, docs/*.md, apps/ and src/ (code and comments) never cite the project's private spec
   (../shared/spec/theory.md, io.md, style.md, platform.md …) nor /work/shared;
 * neither does any `--help` text of the real binary (every subcommand);
 * every "model.md §X" / "files.md §X" citation names a section that exists in docs/;
 * every relative link of README.md and docs/*.md points to a file of the repository.
"""
import glob
import os
import re
import subprocess
import unittest

SRC = os.environ.get('ATTNPATHS_SOURCE_DIR', '.')
BIN = os.environ.get('ATTNPATHS_BINARY', os.path.join(SRC, 'build', 'bin', 'attnpaths'))
FORBIDDEN = re.compile(r'\.\./shared|/work/shared|shared/spec|(?<![\w/.-])(theory|io|style|platform|architecture)\.md §'
                       r'|(?<![\w/.-])(io|style|platform|architecture)\.md\b|DEVELOPERS\.md|docs/cli\.md')
HELP = [[], ['data'], ['data', 'markov'], ['theory'], ['sample'], ['compare'], ['prune']]


def repo_texts():
    files = [os.path.join(SRC, 'README.md')] + sorted(glob.glob(os.path.join(SRC, 'docs', '*.md')))
    for d in ('apps', 'src'):
        for root, _, names in os.walk(os.path.join(SRC, d)):
            files += [os.path.join(root, n) for n in names if n.endswith(('.cpp', '.hpp', '.h'))]
    return files


def read(path):
    with open(path, encoding='utf-8') as f:
        return f.read()


def sections(md):
    """Section numbers ('3', '3.3', …) of a Markdown file's numbered headings."""
    return set(re.findall(r'^#{2,4} (\d+(?:\.\d+)*)\.? ', read(md), re.M))


class DocsStandAlone(unittest.TestCase):
    def test_no_spec_citations_in_the_repository(self):
        hits = []
        for f in repo_texts():
            for i, line in enumerate(read(f).splitlines(), 1):
                if FORBIDDEN.search(line):
                    hits.append(f'{os.path.relpath(f, SRC)}:{i}: {line.strip()}')
        self.assertEqual(hits, [], 'citations of files outside the repository:\n' + '\n'.join(hits))

    def test_no_spec_citations_in_help(self):
        for args in HELP:
            p = subprocess.run([BIN] + args + ['--help'], capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 0, f'attnpaths {" ".join(args)} --help: {p.stderr}')
            bad = [l for l in (p.stdout + p.stderr).splitlines() if FORBIDDEN.search(l)]
            self.assertEqual(bad, [], f'attnpaths {" ".join(args)} --help cites outside files')

    def test_section_citations_exist(self):
        known = {name: sections(os.path.join(SRC, 'docs', name)) for name in ('model.md', 'files.md')}
        self.assertTrue({'1', '1.1', '1.2', '1.3', '2', '3.3', '3.5', '4', '5.1'} <= known['model.md'])
        self.assertTrue({'1', '2', '3', '4'} <= known['files.md'])
        missing = []
        for f in repo_texts() + glob.glob(os.path.join(SRC, 'analysis', '**', '*.py'), recursive=True):
            for m in re.finditer(r'(model|files)\.md\)? §(\d+(?:\.\d+)*)', read(f)):
                if m.group(2) not in known[m.group(1) + '.md']:
                    missing.append(f'{os.path.relpath(f, SRC)}: {m.group(0)}')
        self.assertEqual(missing, [], 'citations of sections that do not exist')

    def test_relative_links_resolve(self):
        broken = []
        for md in [os.path.join(SRC, 'README.md')] + sorted(glob.glob(os.path.join(SRC, 'docs', '*.md'))):
            for target in re.findall(r'\]\(([^)#:]+)(?:#[^)]*)?\)', read(md)):
                if not os.path.exists(os.path.join(os.path.dirname(md), target)):
                    broken.append(f'{os.path.relpath(md, SRC)} -> {target}')
        self.assertEqual(broken, [])


if __name__ == '__main__':
    unittest.main(verbosity=2)
