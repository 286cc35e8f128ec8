#!/bin/sh
# Fails when a tracked C file differs from what clang-format makes of it with
# the committed .clang-format. Skipped (77) without clang-format of the major
# version the tree is formatted with: other versions lay out some constructs
# differently, and the check must not fail on a machine for its tools.
#   format_check.sh SOURCE_DIR
# SG_CLANG_FORMAT names the binary to use.
set -eu
top=${1:-$(cd "$(dirname "$0")/.." && pwd)}
want=14

cf=${SG_CLANG_FORMAT:-}
if [ -z "$cf" ]; then
	for c in clang-format-$want clang-format; do
		if command -v "$c" >/dev/null 2>&1; then
			cf=$c
			break
		fi
	done
fi
if [ -z "$cf" ]; then
	echo "format_check: no clang-format (tests/deps.sh installs it): skipped"
	exit 77
fi
ver=$("$cf" --version | sed -n 's/.*clang-format version \([0-9]*\).*/\1/p')
if [ "$ver" != "$want" ]; then
	echo "format_check: $cf is version ${ver:-unknown}, the tree is formatted with $want: skipped"
	exit 77
fi

cd "$top"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	files=$(git ls-files '*.c' '*.h')
else
	files=$(find lib daemon tests -name '*.[ch]' | sort)
fi
bad=0
for f in $files; do
	if ! "$cf" "$f" | cmp -s - "$f"; then
		echo "---- $f differs from clang-format's output:"
		"$cf" "$f" | diff -u "$f" - | head -40 || true
		bad=$((bad + 1))
	fi
done
if [ "$bad" != 0 ]; then
	echo "FAIL: $bad file(s) not clang-formatted: run clang-format -i on them"
	exit 1
fi
echo "PASS: $(echo "$files" | wc -l) files clang-formatted"
