#!/usr/bin/env bash
# layers.sh ROOT: the modules are layers, in the order of the README's module table
# (bottom first), and a module includes only modules above it in that table (below it
# in the stack). Every module folder under src/ and include/mmtorture/ has a row.
# Prints one line per include that goes against the order; exit 1 if there is one.
set -eu
root="$1"
readme="$root/README.md"
# The rows "| `name` | ... |" of the first table whose header is "| module | ...".
mapfile -t layers < <(awk '
  /^\| module \|/ { in_table = 1; next }
  in_table && !/^\|/ { exit }
  in_table && match($0, /^\| `[a-z_]+` \|/) { print substr($0, RSTART + 3, RLENGTH - 6) }
' "$readme")
if [ "${#layers[@]}" -eq 0 ]; then
  echo "$readme: no module table (a '| module | ...' table with one '| \`name\` |' row per module)"
  exit 1
fi
declare -A rank
for i in "${!layers[@]}"; do rank[${layers[$i]}]=$i; done
order=$(IFS=' '; echo "${layers[*]}")

problems=0
for dir in "$root"/src/*/ "$root"/include/mmtorture/*/; do
  [ -d "$dir" ] || continue
  module=$(basename "$dir")
  if [ -z "${rank[$module]+set}" ]; then
    echo "${dir#"$root"/}: module '$module' has no row in the README's module table ($order)"
    problems=$((problems + 1))
  fi
done
while IFS=: read -r file line text; do
  module=$(sed -E 's#^(src|include/mmtorture)/([a-z_]+)/.*#\2#' <<<"${file#"$root"/}")
  used=$(sed -E 's#.*"mmtorture/([a-z_]+)/.*#\1#' <<<"$text")
  if [ "$used" = "$module" ] || [ -z "${rank[$module]+set}" ]; then continue; fi
  if [ -z "${rank[$used]+set}" ] || [ "${rank[$used]}" -ge "${rank[$module]}" ]; then
    echo "${file#"$root"/}:$line: $module includes $used, which is not below it (layers bottom up: $order)"
    problems=$((problems + 1))
  fi
done < <(grep -rnE '^#include "mmtorture/[a-z_]+/' "$root/src" "$root/include/mmtorture" 2>/dev/null | sort)
if [ "$problems" -gt 0 ]; then
  echo "layers: $problems problem(s) with the module order"
  exit 1
fi
echo "layers: every include goes down the stack ($order)"
