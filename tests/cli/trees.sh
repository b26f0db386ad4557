#!/usr/bin/env bash
# Trees that point at the bug, on real canary runs:
# - the maple job's tree at the destroy-frees-live-nodes canary (maple.mt_validate.freed_node
#   names a node): the failure is the graph's label, the named node is filled red, and
#   the tree (dozens of nodes) is drawn as the path from the root to it, every other
#   subtree collapsed into a counted box; rendered as SVG it is a fraction of the
#   whole tree's width;
# - a world job's failure that names a VMA range (topdown-gap-miscalc:
#   vma.unmapped_area): the failing mm's cluster is red, the slots it names marked;
# - --dump-tree=svg without Graphviz's dot on PATH: one line, exit 2, nothing written.
# Usage: trees.sh MMT CONFIGS_DIR
set -eu
mmt="$1"
configs="$2"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
count() { grep -o -- "$1" "$2" | wc -l; }

# Seed 4 names a node below the root (depth 2 today), so the path has more than one node.
rc=0; "$mmt" run "$configs/maple.toml" --defect destroy-frees-live-nodes --seeds 4..4 --set run.shrink=false \
  --out "$dir/maple" --quiet >"$dir/maple.log" || rc=$?
[ $rc -eq 1 ] || { cat "$dir/maple.log"; exit 1; }
repro=$(ls "$dir"/maple/failures/*/4.repro.json)
rc=0; "$mmt" replay "$repro" --last 0 --dump-tree=dot >"$dir/replay.log" || rc=$?
[ $rc -eq 1 ]
dot="${repro%.json}.trees.dot"
grep -q "^trees at the failure (1, Graphviz; 1 drawn as the path to the failing node): $dot\$" "$dir/replay.log"
# The node the failure names, as its message prints it: "... in arange_64 node [A-B] depth D".
fail=$(grep '^mmtorture: FAIL maple.mt_validate.freed_node' "$dir/replay.log")
type=$(echo "$fail" | sed -nE 's/.* in ([a-z_0-9]+) node \[(0x[0-9a-f]+)-(0x[0-9a-f]+)\] depth ([0-9]+)$/\1/p')
first=$(echo "$fail" | sed -nE 's/.* node \[(0x[0-9a-f]+)-(0x[0-9a-f]+)\] depth ([0-9]+)$/\1/p')
last=$(echo "$fail" | sed -nE 's/.* node \[(0x[0-9a-f]+)-(0x[0-9a-f]+)\] depth ([0-9]+)$/\2/p')
depth=$(echo "$fail" | sed -nE 's/.* node \[(0x[0-9a-f]+)-(0x[0-9a-f]+)\] depth ([0-9]+)$/\3/p')
[ -n "$type" ] || { echo "no node in: $fail"; exit 1; }
[ "$depth" -ge 1 ] || { echo "seed 4 names the root, not a node below it: $fail"; exit 1; }
# The failure is the graph's label (its first line), in red, on top.
grep -q '^  label="mmtorture: FAIL maple.mt_validate.freed_node ([0-9a-f]*) at mt_validate: child at slot' "$dot"
grep -q '^  labelloc=t;$' "$dot"
grep -q '^  fontcolor=red;$' "$dot"
# The named node: filled red, once; the path above it red; nothing else drawn whole.
[ "$(count "style=filled,fillcolor=\"#ffe4e1\",label=\"{$type $first-$last|" "$dot")" -eq 1 ] || {
  echo "the node $type [$first-$last] is not highlighted"; grep -n 'style=filled' "$dot"; exit 1; }
[ "$(count 'style=filled' "$dot")" -eq 1 ]
[ "$(count '\[shape=record' "$dot")" -eq $((depth + 1)) ] || { echo "more than the path is drawn"; exit 1; }
[ "$(count '\[shape=record,color=red,label=' "$dot")" -eq "$depth" ]
boxes=$(count '\[shape=box,style=dashed' "$dot")
[ "$boxes" -ge 1 ]
drawn=$(sed -nE 's|^    // drawn: the ([0-9]+) node\(s\) on the path from the root to the failure.s subject; ([0-9]+) other node\(s\) collapsed$|\1 \2|p' "$dot")
[ "$(echo "$drawn" | cut -d' ' -f1)" -eq $((depth + 1)) ]
collapsed=$(echo "$drawn" | cut -d' ' -f2)
sum=$(grep -oE ' collapsed \([0-9]+ nodes?\)' "$dot" | grep -oE '[0-9]+' | awk '{ s += $1 } END { print s }')
[ "$sum" -eq "$collapsed" ] || { echo "the boxes count $sum nodes, the comment $collapsed"; exit 1; }
[ "$collapsed" -gt 24 ]  # a large tree: the whole of it would not be drawn like this
grep -q "^    label=\"maple job tree at the failure (op [0-9]*; the model holds [0-9]* entries): named by the failure (node \[$first-$last\] depth $depth)\";\$" "$dot"

# --dump-tree-whole: every node, the same one highlighted, no box.
rc=0; "$mmt" replay "$repro" --last 0 --dump-tree-whole --dump-tree-out "$dir/whole.dot" >"$dir/whole.log" || rc=$?
[ $rc -eq 1 ]
grep -q "^trees at the failure (1, Graphviz): $dir/whole.dot\$" "$dir/whole.log"
[ "$(count '\[shape=record' "$dir/whole.dot")" -eq $((depth + 1 + collapsed)) ]
[ "$(count "style=filled,fillcolor=\"#ffe4e1\",label=\"{$type $first-$last|" "$dir/whole.dot")" -eq 1 ]
[ "$(count 'shape=box' "$dir/whole.dot")" -eq 0 ]

# As SVG: drawn by dot, the failure on it, a fraction of the whole tree's width. CI must
# have dot (scripts/setup installs it).
if ! command -v dot >/dev/null; then
  if [ "${CI:-}" = "true" ]; then echo "FAIL: Graphviz's dot is not installed in CI"; exit 1; fi
  echo "note: Graphviz's dot is not installed: the SVG checks are skipped"
else
  rc=0; "$mmt" replay "$repro" --last 0 --dump-tree=svg >"$dir/svg.log" || rc=$?
  [ $rc -eq 1 ]
  svg="${repro%.json}.trees.svg"
  grep -q "^trees at the failure (1, SVG; 1 drawn as the path to the failing node): $svg\$" "$dir/svg.log"
  grep -q '<svg width="[0-9]*pt"' "$svg"
  grep -q 'mmtorture: FAIL maple.mt_validate.freed_node' "$svg"
  grep -q 'fill="#ffe4e1" stroke="red"' "$svg"
  width=$(sed -nE 's/^<svg width="([0-9]+)pt".*/\1/p' "$svg")
  [ -z "$(ls "$(dirname "$repro")" | grep -v -e '\.repro\.json$' -e '\.trees\.dot$' -e '\.trees\.svg$')" ]
  rc=0; "$mmt" replay "$repro" --last 0 --dump-tree=svg --dump-tree-whole --dump-tree-out "$dir/whole.svg" \
    >/dev/null || rc=$?
  [ $rc -eq 1 ]
  whole=$(sed -nE 's/^<svg width="([0-9]+)pt".*/\1/p' "$dir/whole.svg")
  [ "$width" -lt 2000 ] || { echo "the drawing is $width pt wide"; exit 1; }
  [ "$whole" -gt $((width * 5)) ] || { echo "the whole tree ($whole pt) is not much wider than the path ($width pt)"; exit 1; }
  echo "maple canary tree: depth $depth, $collapsed nodes collapsed in $boxes boxes, SVG $width pt wide (whole tree: $whole pt)"
fi

# A world job failure naming a VMA range: the failing mm's cluster red, the slots marked.
rc=0; "$mmt" run "$configs/seed003-mremap-pressure.toml" --defect topdown-gap-miscalc --seeds 1..4 --set run.shrink=false \
  --out "$dir/world" --quiet >"$dir/world.log" || rc=$?
[ $rc -eq 1 ] || { cat "$dir/world.log"; exit 1; }
repro=$(ls "$dir"/world/failures/*/*.repro.json | head -1)
rc=0; "$mmt" replay "$repro" --last 0 --dump-tree-out "$dir/world.dot" >"$dir/world-replay.log" || rc=$?
[ $rc -eq 1 ]
fail=$(grep '^mmtorture: FAIL ' "$dir/world-replay.log")
echo "$fail" | grep -q 'FAIL vma.unmapped_area' || { echo "$fail"; exit 1; }
grep -q "^  label=\"mmtorture: FAIL vma.unmapped_area" "$dir/world.dot"
[ "$(count 'named by the failure' "$dir/world.dot")" -eq 1 ]
grep -Eq "^    label=\"mm [0-9]+ \(slot [0-9]+\): map_count [0-9]+, total_vm [0-9]+ pages: named by the failure \(mm [0-9]+, entry \[0x[0-9a-f]+-0x[0-9a-f]+\]\)\";\$" "$dir/world.dot"
failing=$(sed -nE 's/^    label="mm ([0-9]+) \(slot.*named by the failure \(mm ([0-9]+),.*/\1 \2/p' "$dir/world.dot")
[ "$(echo "$failing" | cut -d' ' -f1)" = "$(echo "$failing" | cut -d' ' -f2)" ]
[ "$(count '|\\>\\> ' "$dir/world.dot")" -ge 1 ] || { echo "no slot marked"; exit 1; }
[ "$(count 'style=filled' "$dir/world.dot")" -ge 1 ]
echo "world canary: the failing mm $(echo "$failing" | cut -d' ' -f1) drawn in red (one of $(count 'subgraph cluster_' "$dir/world.dot") clusters), $(count '|\\>\\> ' "$dir/world.dot") slot(s) marked"

# Without dot: one line, exit 2, nothing written, nothing replayed.
rm -f "${repro%.json}.trees.svg"
rc=0; env PATH=/nonexistent "$mmt" replay "$repro" --dump-tree=svg >"$dir/nodot.out" 2>"$dir/nodot.err" || rc=$?
[ $rc -eq 2 ]
[ "$(wc -l <"$dir/nodot.err")" -eq 1 ]
[ ! -s "$dir/nodot.out" ]
grep -q "^mmtorture: --dump-tree=svg: Graphviz's dot is not on PATH" "$dir/nodot.err"
[ ! -e "${repro%.json}.trees.svg" ]
