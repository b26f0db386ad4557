# Sourced by the cli test scripts. Needs $dir (a scratch folder) and fail().
# expect_refusal WANT COMMAND...: exit 2, exactly one line on stderr containing WANT,
# nothing on stdout (bad input is refused before anything runs).
expect_refusal() {
  local want="$1" rc=0
  shift
  "$@" >"$dir/out.log" 2>"$dir/err.log" || rc=$?
  [ $rc -eq 2 ] || fail "exit $rc (wanted 2): $*"
  [ "$(wc -l <"$dir/err.log")" -eq 1 ] || fail "stderr is not one line: $(cat "$dir/err.log")"
  grep -qF -- "$want" "$dir/err.log" || fail "stderr lacks '$want': $(cat "$dir/err.log")"
  [ ! -s "$dir/out.log" ] || fail "a refused run printed: $(head -3 "$dir/out.log")"
}
