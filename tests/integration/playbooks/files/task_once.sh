#!/bin/sh
# A script job that counts its runs: appends a line to the file $1, then sleeps 0.5 s
# (N.5, see "Jobs in test playbooks" in CONTRIBUTING.md) and prints done.
echo "run $$" >> "$1"
sleep 0.5
echo "done"
