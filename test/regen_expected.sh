#!/usr/bin/env bash
# test/regen_expected.sh - regenerate the alternative expected files of the
# regress suite, expected/<test>_1.out: PostgreSQL 18's output where only
# message texts differ from 15's expected/<test>.out.
#
#   bash test/regen_expected.sh [test...]
#
# Runs the regress suite on 18 the way `make test` does (PG_VERSIONS=18
# SUITES=regress, temp dir kept), then for each named test (default: every
# test that has an expected/<test>_1.out) that failed there, copies its
# results/<test>.out over expected/<test>_1.out, and prints
# `diff expected/<test>.out expected/<test>_1.out` for review: those lines
# must be message texts only.  Commit nothing without reading that diff;
# then check 15 still passes (PG_VERSIONS=15 SUITES=regress).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
if [[ $# -gt 0 ]]; then
	tests=("$@")
else
	tests=()
	for f in expected/*_1.out; do
		[[ -e $f ]] || continue
		f=${f#expected/}
		tests+=("${f%_1.out}")
	done
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
PG_GUARD_KEEP=1 PG_VERSIONS=18 SUITES=regress bash test/run_tests.sh 2>&1 | tee "$log" || true
work=$(sed -n 's/.*PostgreSQL 18: work dir \([^,]*\),.*/\1/p' "$log" | tail -n 1)
[[ -d $work/results ]] || { echo "no results directory found (work dir '$work')" >&2; exit 1; }

for t in "${tests[@]}"; do
	if grep -Eq "^not ok [0-9]+ +[-+] +$t( |$)" "$log"; then
		cp "$work/results/$t.out" "expected/${t}_1.out"
		echo "===== expected/$t.out -> expected/${t}_1.out"
		diff "expected/$t.out" "expected/${t}_1.out" || true
	else
		echo "===== $t passes on 18: expected/${t}_1.out left as is"
	fi
done
echo "kept: ${work%/pg18/src} (delete it when done)"
