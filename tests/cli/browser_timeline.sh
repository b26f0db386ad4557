#!/usr/bin/env bash
# The HTML timeline in a real browser (issue 19, item 6): headless Chromium opens the
# page replay --html wrote for the brk/kswapd canary's shrunk repro, and the test checks
# what a person would see in the DOM it rendered: one lane per thread, the failing
# operation and its thread highlighted, the page's script ran (the choices of the failing
# operation are listed), no script error and no request left the page (the page's own
# guard marks both in the DOM; Chromium's console log is checked too). Each of those
# checks is first shown to fail on a page broken on purpose. A screenshot is taken.
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
echo "browser: $threads lanes, the failing operation highlighted, no request, no script error; $work/timeline.png"
