#!/usr/bin/env bash
# The documentation cannot drift from the code: docs/schema.md's dataset
# table is exactly `modsweep --schema`; every file the README or a doc links
# to exists; the README stays a short entry point (at most 320 lines); no
# user document points outside the repository (the project's own design is
# docs/design.md).
set -uo pipefail
root=${MS_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
bin=${MS_BIN:-$root/build/modsweep}
cd "$root" || exit 1
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# 1. The schema table.
want=$(mktemp); have=$(mktemp)
trap 'rm -f "$want" "$have"' EXIT
"$bin" --schema >"$want" || bad "modsweep --schema failed"
awk '/<!-- schema:begin/ { on = 1; next } /<!-- schema:end -->/ { on = 0 } on' docs/schema.md >"$have"
if ! cmp -s "$want" "$have"; then
    bad "docs/schema.md differs from modsweep --schema (run bash scripts/schema-doc.sh):"
    diff "$have" "$want" | head -20
else
    echo "schema: docs/schema.md equals modsweep --schema ($(wc -l <"$want") lines)"
fi

# 2. Links between the documents (relative links only).
docs=(README.md CONTRIBUTING.md docs/*.md)
links=0
for d in "${docs[@]}"; do
    dir=$(dirname "$d")
    while IFS= read -r target; do
        target=${target%%#*}
        [ -z "$target" ] && continue
        case "$target" in http*://* | mailto:*) continue ;; esac
        links=$((links + 1))
        [ -e "$dir/$target" ] || bad "$d links to $target, which does not exist"
    done < <(grep -oE '\]\([^)]+\)' "$d" | sed -E 's/^\]\((.*)\)$/\1/')
done
echo "links: $links relative links in ${#docs[@]} documents checked"

# 3. The README is an entry point.
n=$(wc -l <README.md)
[ "$n" -le 320 ] || bad "README.md has $n lines (at most 320: move detail to docs/)"

# 4. Nothing a user reads points outside the repository.
hits=$(grep -nE '\.\./shared|DESIGN\.md|/work/' README.md CONTRIBUTING.md docs/*.md sweeps/*.ini 2>/dev/null)
[ -z "$hits" ] || bad "documents point outside the repository:"$'\n'"$hits"

[ "$fail" = 0 ] && echo "docs: README $n lines; all checks passed"
exit "$fail"
