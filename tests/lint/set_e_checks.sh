#!/usr/bin/env bash
# Lint: a check in a `set -e` script must be able to fail the script.
#
# Under `set -e` the shell ignores a failing command that is not the last of an
# `&&` list, and a command negated with `!`. So `[ $rc -eq 1 ] && grep -q x log` passes
# when rc is 0, and `! grep -q x log` passes when the log has x: tests that cannot fail.
# Flagged, per logical line (continuations joined):
#   - a line starting with `[`, `[[` or `test` that continues with `&&`, with no `||`
#     fallback (conditional actions are written `if ...; then ...; fi`);
#   - a line starting with `! ` with no `||` fallback.
# Write the check as two lines, or `if ...; then ...; fi`, or add `|| { echo why; exit 1; }`.
# Usage: set_e_checks.sh FILE...   (files without `set -e` are skipped). Exit 1 on a finding.
set -u
findings=0
for file in "$@"; do
  grep -qE '^[[:space:]]*set -[a-z]*e' "$file" || continue
  while IFS=$'\t' read -r line text; do
    echo "$file:$line: a check that cannot fail under set -e: $text"
    findings=$((findings + 1))
  done < <(awk '
    { raw = $0 }
    joined == "" { start = NR }
    { joined = joined raw }
    /\\$/ { sub(/\\$/, "", joined); next }
    {
      t = joined; joined = ""
      sub(/^[ \t]+/, "", t)
      if (t ~ /^#/) next
      if (t ~ /\|\|/) next
      if (t ~ /^(\[\[? |test )/ && t ~ /&&/) {
        printf "%d\t%s\n", start, t; next
      }
      if (t ~ /^! /) { printf "%d\t%s\n", start, t }
    }' "$file")
done
if [ "$findings" -ne 0 ]; then
  echo "$findings check(s) that cannot fail; see the comment at the top of $0"
  exit 1
fi
echo "set -e checks: ${#} files scanned, none can pass silently"
