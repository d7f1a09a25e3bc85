#!/bin/sh
# Run by async_task's script form (test_async_task.py): says where it runs from,
# where it runs, and its arguments, one per line.
echo "dir=$(cd "$(dirname "$0")" && pwd)"
echo "pwd=$(pwd)"
for arg in "$@"; do
    echo "arg=$arg"
done
