#!/usr/bin/env bash
# packaging/dist.sh [OUTDIR]: what `make dist` runs.
#
# The PGXN release archive: `git archive` of HEAD (committed files only) as
# OUTDIR/primary_guard-<version>.zip (default OUTDIR dist/), every file under
# primary_guard-<version>/, <version> being META.json's.  Needs a git
# checkout; prints the archive's path.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-dist}
[[ $out == /* ]] || out=$PWD/$out

if ! git -C "$repo" rev-parse --verify -q HEAD >/dev/null 2>&1; then
	echo "make dist: $repo is not a git checkout (git archive needs one)" >&2
	exit 1
fi
name=$(perl -MJSON::PP -0777 -ne 'print decode_json($_)->{name}' "$repo/META.json")
version=$(perl -MJSON::PP -0777 -ne 'print decode_json($_)->{version}' "$repo/META.json")
if [[ -n $(git -C "$repo" status --porcelain --untracked-files=no) ]]; then
	echo "make dist: warning: uncommitted changes are not in the archive (it is HEAD)" >&2
fi
mkdir -p "$out"
zip=$out/$name-$version.zip
git -C "$repo" archive --format=zip --prefix="$name-$version/" -o "$zip" HEAD
echo "$zip"
