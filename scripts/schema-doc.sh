#!/usr/bin/env bash
# Regenerates the dataset table of docs/schema.md from `modsweep --schema`
# (the column tables the results file is made from), between the markers
# <!-- schema:begin --> and <!-- schema:end -->. tests/test_docs.sh fails
# when the two differ.
#   bash scripts/schema-doc.sh [path/to/modsweep]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$root/build/modsweep}
doc=$root/docs/schema.md
[ -x "$bin" ] || { echo "schema-doc.sh: no modsweep binary at $bin (build first, or name it)" >&2; exit 1; }
table=$(mktemp)
trap 'rm -f "$table" "$table.new"' EXIT
"$bin" --schema >"$table"
awk -v t="$table" '
    /<!-- schema:begin/ { print; while ((getline l < t) > 0) print l; skip = 1; next }
    /<!-- schema:end -->/ { skip = 0 }
    !skip { print }' "$doc" >"$table.new"
grep -q '<!-- schema:end -->' "$table.new" || { echo "schema-doc.sh: markers missing in $doc" >&2; exit 1; }
cp "$table.new" "$doc"
echo "schema-doc.sh: $doc updated ($(wc -l <"$table") lines from modsweep --schema)"
