#!/usr/bin/env bash
# The HTML timeline in a real browser: headless Chromium opens the
# page replay --html wrote for the brk/kswapd canary's shrunk repro, and the test checks
# what a person would see in the DOM it rendered: one lane per thread, the failing
# operation and its thread highlighted, the page's script ran (the choices of the failing
# operation are listed), no script error and no request left the page (the page's own
# guard marks both in the DOM; Chromium's console log is checked too). Each of those
# checks is first shown to fail on a page broken on purpose. Then the campaign report
# (run --report) and each signature's timeline it links, a cma campaign's report with its
# job charts, then a canary's tree as SVG (replay --dump-tree=svg). Screenshots are taken.
# Without chromium the test is skipped (exit 77), except in CI (CI=true), where it fails.
set -eu
mmt="$1"
configs="$2"
work="$3"  # a directory under the build tree: the profile, the pages, the screenshot
browser=""
for candidate in chromium chromium-browser; do
  if command -v "$candidate" >/dev/null 2>&1; then browser=$(command -v "$candidate"); break; fi
done
if [ -z "$browser" ]; then
  if [ "${CI:-}" = "true" ]; then
    echo "FAIL: chromium is not installed, and CI must run the browser test (scripts/setup installs it)"
    exit 1
  fi
  echo "SKIP: chromium is not installed (scripts/setup installs Debian's chromium package)"
  exit 77
fi
rm -rf "$work"
mkdir -p "$work"
sandbox=""
if [ "$(id -u)" -eq 0 ]; then sandbox="--no-sandbox"; fi
# Renders a page; writes its DOM to $2 and Chromium's log (the console) to $3.
render() {
  timeout 120 "$browser" --headless $sandbox --disable-gpu --no-first-run --user-data-dir="$work/profile" \
    --enable-logging=stderr --v=0 --virtual-time-budget=3000 --dump-dom "file://$1" >"$2" 2>"$3"
}

rc=0; "$mmt" run "$configs/seed002-brk-churn.toml" --defect brk-munmap-shortcut --seeds 1..1 --out "$work/o" \
  --quiet >"$work/run.log" || rc=$?
[ $rc -eq 1 ] || { cat "$work/run.log"; exit 1; }
repro=$(ls "$work"/o/failures/*/1.min.repro.json)
rc=0; "$mmt" replay "$repro" --html "$work/timeline.html" >"$work/replay.log" || rc=$?
[ $rc -eq 1 ]
threads=$(sed -nE 's/^timeline \(HTML, [0-9]+ events, ([0-9]+) threads\): .*/\1/p' "$work/replay.log")
[ -n "$threads" ]
[ "$threads" -ge 2 ]

# What a person sees.
render "$work/timeline.html" "$work/dom.html" "$work/chromium.log"
grep -q 'data-script="ran"' "$work/dom.html" || { echo "the page's script did not run"; exit 1; }
if grep -q 'id="script-error"' "$work/dom.html"; then grep -o '<div id="script-error">[^<]*' "$work/dom.html"; exit 1; fi
if grep -q 'id="blocked-request"' "$work/dom.html"; then grep -o '<div id="blocked-request">[^<]*' "$work/dom.html"; exit 1; fi
if grep -E 'INFO:CONSOLE.*(Uncaught|violates the following Content Security Policy)' "$work/chromium.log"; then exit 1; fi
[ "$(grep -o '<g class="lane"' "$work/dom.html" | wc -l)" -eq "$threads" ] || { echo "not one lane per thread"; exit 1; }
grep -q '<g class="lane" data-thread="1" data-name="kswapd0">' "$work/dom.html"
grep -q '<g class="lane" data-thread="2" data-name="worker0">' "$work/dom.html"
[ "$(grep -o '<rect class="op failing' "$work/dom.html" | wc -l)" -eq 1 ] || { echo "no single failing operation"; exit 1; }
[ "$(grep -o 'class="lane-bg failing-thread"' "$work/dom.html" | wc -l)" -eq 1 ]
grep -q '<rect class="op failing selected"' "$work/dom.html" || { echo "the failing operation is not selected"; exit 1; }
grep -Eq '<p>balance_pgdat: [1-9][0-9]* choices drawn while it ran</p>' "$work/dom.html" || {
  echo "the failing operation's choices are not listed"; exit 1; }
grep -q 'mmtorture: FAIL rmap.unstable_vma' "$work/dom.html"
grep -q "<ul id=\"held-locks\">" "$work/dom.html"

# The checks can fail: a page that requests something and one whose script throws.
sed 's|<h1>|<img src="http://127.0.0.1:9/x.png"><h1>|' "$work/timeline.html" >"$work/requests.html"
render "$work/requests.html" "$work/requests.dom" "$work/requests.log"
grep -q 'id="blocked-request"' "$work/requests.dom" || { echo "a blocked request left no marker"; exit 1; }
grep -q 'violates the following Content Security Policy' "$work/requests.log"
sed 's|(function () {\n  var choices|&|; s|var choices = JSON.parse|var choices = JSON.parse(undefined_name) \|\| JSON.parse|' \
  "$work/timeline.html" >"$work/throws.html"
render "$work/throws.html" "$work/throws.dom" "$work/throws.log"
grep -q 'id="script-error"' "$work/throws.dom" || { echo "a script error left no marker"; exit 1; }

# A screenshot of the timeline (what the README shows).
timeout 120 "$browser" --headless $sandbox --disable-gpu --no-first-run --user-data-dir="$work/profile" \
  --window-size=1400,1000 --virtual-time-budget=3000 --screenshot="$work/timeline.png" "file://$work/timeline.html" \
  >/dev/null 2>"$work/screenshot.log"
[ "$(stat -c %s "$work/timeline.png")" -gt 20000 ] || { echo "the screenshot is (nearly) empty"; exit 1; }
# The campaign report (run --report): a row per signature with its replay command and a
# timeline link, a cell per seed in the outcome plot, the same guards.
rc=0; "$mmt" run "$configs/smoke.toml" --defect mremap-account-leak --seeds 1..24 --ops 300 \
  --set checks.selftest_plant_fork_after_op=200 --set run.shrink_attempts=60 --out "$work/campaign" --quiet --report \
  >"$work/campaign.log" || rc=$?
[ $rc -eq 1 ] || { cat "$work/campaign.log"; exit 1; }
signatures=$(jq '.signatures | length' "$work/campaign/summary.json")
[ "$signatures" -ge 2 ] || { echo "the report campaign found $signatures signatures"; exit 1; }
grep -q "^report: $work/campaign/report.html ($signatures signatures, $signatures timelines, 24 seeds)\$" "$work/campaign.log"
render "$work/campaign/report.html" "$work/report.dom" "$work/report.log"
grep -q 'data-script="ran"' "$work/report.dom" || { echo "the report's script did not run"; exit 1; }
if grep -Eq 'id="(script-error|blocked-request)"' "$work/report.dom"; then echo "the report has a script error or made a request"; exit 1; fi
if grep -E 'INFO:CONSOLE.*(Uncaught|violates the following Content Security Policy)' "$work/report.log"; then exit 1; fi
[ "$(grep -o '<tr class="signature"' "$work/report.dom" | wc -l)" -eq "$signatures" ]
[ "$(grep -o '<code class="replay">mmtorture replay [^<]*\.repro\.json</code>' "$work/report.dom" | wc -l)" -eq "$signatures" ]
[ "$(grep -o '<a class="timeline" href="timelines/[0-9a-f]*\.html">' "$work/report.dom" | wc -l)" -eq "$signatures" ]
for page in "$work"/campaign/timelines/*.html; do
  render "$page" "$work/signature.dom" "$work/signature.log"
  grep -q 'data-script="ran"' "$work/signature.dom"
  # The failing operation, or (a check after the run) the failure marked after the last event.
  grep -Eq "<rect class=\"op failing|found after the threads' last event" "$work/signature.dom" || {
    echo "$page: neither a failing operation nor a failure after the run"; exit 1; }
done
outcome_cells=$(sed -n '/<svg id="outcomes"/,/<\/svg>/p' "$work/report.dom" | grep -o '<rect class="[a-z]*"' | wc -l)
[ "$outcome_cells" -eq 24 ] || { echo "$outcome_cells outcome cells for 24 seeds"; exit 1; }
timeout 120 "$browser" --headless $sandbox --disable-gpu --no-first-run --user-data-dir="$work/profile" \
  --window-size=1400,800 --virtual-time-budget=3000 --screenshot="$work/report.png" "file://$work/campaign/report.html" \
  >/dev/null 2>"$work/screenshot.log"
[ "$(stat -c %s "$work/report.png")" -gt 20000 ] || { echo "the report screenshot is (nearly) empty"; exit 1; }
# A cma campaign's report: its job charts render (histogram with p50/p99, counts).
rc=0; "$mmt" run "$configs/seed004-cma-policies.toml" --seeds 1..4 --out "$work/cma" --quiet --report >"$work/cma.log" || rc=$?
[ $rc -le 1 ] || { cat "$work/cma.log"; exit 1; }
render "$work/cma/report.html" "$work/cma.dom" "$work/cma-chromium.log"
grep -q 'data-script="ran"' "$work/cma.dom" || { echo "the cma report's script did not run"; exit 1; }
if grep -Eq 'id="(script-error|blocked-request)"' "$work/cma.dom"; then echo "the cma report has a script error or made a request"; exit 1; fi
grep -q '<svg id="cma-latency-0" class="chart"' "$work/cma.dom"
grep -q '<svg id="cma-counts-0" class="chart"' "$work/cma.dom"
[ "$(grep -o 'class="marker"' "$work/cma.dom" | wc -l)" -ge 1 ] || { echo "no p50/p99 marker drawn"; exit 1; }
timeout 120 "$browser" --headless $sandbox --disable-gpu --no-first-run --user-data-dir="$work/profile" \
  --window-size=1400,900 --virtual-time-budget=3000 --screenshot="$work/cma-report.png" "file://$work/cma/report.html" \
  >/dev/null 2>"$work/screenshot.log"
[ "$(stat -c %s "$work/cma-report.png")" -gt 20000 ] || { echo "the cma report screenshot is (nearly) empty"; exit 1; }

# The maple canary's tree (replay --dump-tree=svg): the SVG opens as it is, shows the
# failure on top and the named node filled red, and is screenshotted (docs/tree.png).
if ! command -v dot >/dev/null 2>&1; then
  if [ "${CI:-}" = "true" ]; then echo "FAIL: Graphviz's dot is not installed (scripts/setup installs graphviz)"; exit 1; fi
  echo "note: Graphviz's dot is not installed: the tree is not rendered"
else
  rc=0; "$mmt" run "$configs/maple.toml" --defect destroy-frees-live-nodes --seeds 4..4 --set run.shrink=false \
    --out "$work/maple" --quiet >"$work/maple.log" || rc=$?
  [ $rc -eq 1 ] || { cat "$work/maple.log"; exit 1; }
  rc=0; "$mmt" replay "$work"/maple/failures/*/4.repro.json --last 0 --dump-tree=svg --dump-tree-out "$work/tree.svg" \
    >"$work/tree.log" || rc=$?
  [ $rc -eq 1 ]
  render "$work/tree.svg" "$work/tree.dom" "$work/tree-chromium.log"
  grep -q '<svg' "$work/tree.dom" || { echo "the tree SVG did not render"; exit 1; }
  grep -q 'mmtorture: FAIL maple.mt_validate.freed_node' "$work/tree.dom"
  [ "$(grep -o 'fill="#ffe4e1" stroke="red"' "$work/tree.dom" | wc -l)" -eq 1 ] || { echo "not one node filled red"; exit 1; }
  grep -q 'collapsed (' "$work/tree.dom"
  timeout 120 "$browser" --headless $sandbox --disable-gpu --no-first-run --user-data-dir="$work/profile" \
    --window-size=1400,1000 --virtual-time-budget=3000 --screenshot="$work/tree.png" "file://$work/tree.svg" \
    >/dev/null 2>"$work/screenshot.log"
  [ "$(stat -c %s "$work/tree.png")" -gt 20000 ] || { echo "the tree screenshot is (nearly) empty"; exit 1; }
fi
echo "browser: $threads lanes, the failing operation highlighted, no request, no script error; report: $signatures signatures; $work/timeline.png, $work/report.png, $work/cma-report.png, $work/tree.png"
