#!/bin/sh
# Checks that every C, C++ and header file git tracks is formatted as
# .clang-format says.  TAP, one test: which files are not, and the fix.
set -u
cd "${1:?source root}" || exit 1
echo "1..1"
if ! command -v clang-format >/dev/null 2>&1; then
	echo "not ok 1 - clang-format is not installed: run scripts/install-deps test"
	exit 1
fi
files=$(git ls-files '*.c' '*.h' '*.cc' 2>/dev/null)
[ -n "$files" ] || files=$(find core archiver indexer search web-cgi cli tests fuzz bench \( -name '*.[ch]' -o -name '*.cc' \) -print)
bad=""
n=0
for f in $files; do
	n=$((n + 1))
	clang-format --style=file --dry-run --Werror "$f" >/dev/null 2>&1 || bad="$bad $f"
done
if [ -n "$bad" ]; then
	echo "not ok 1 - not formatted as .clang-format says (fix: clang-format -i$bad)"
	exit 1
fi
echo "ok 1 - $n files formatted as .clang-format says"
