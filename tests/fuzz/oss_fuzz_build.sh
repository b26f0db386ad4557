#!/usr/bin/env bash
# tests/fuzz/oss_fuzz_build.sh [SECONDS]: runs .clusterfuzzlite/build.sh with the
# variables OSS-Fuzz and ClusterFuzzLite set for a libFuzzer + ASan build (compilers,
# CFLAGS/CXXFLAGS including -stdlib=libc++, $LIB_FUZZING_ENGINE, $SRC/$WORK/$OUT), then
# checks that every target came with its seed corpus zip (and fuzz_config with its
# dictionary) and finds its shared libraries in $OUT/lib, and runs each built target for SECONDS (default 3) on its unzipped corpus,
# as the infrastructure would. Builds in build/oss-fuzz/.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-3}
export SRC=$PWD/.. WORK=$PWD/build/oss-fuzz/work OUT=$PWD/build/oss-fuzz/out
export CC=clang CXX=clang++ SANITIZER=address FUZZING_ENGINE=libfuzzer ARCHITECTURE=x86_64
export CFLAGS="-O1 -fno-omit-frame-pointer -gline-tables-only -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION \
-fsanitize=address -fsanitize-address-use-after-scope -fsanitize=fuzzer-no-link"
export CXXFLAGS="$CFLAGS -stdlib=libc++"
export LIB_FUZZING_ENGINE="-fsanitize=fuzzer"
rm -rf "$OUT"
mkdir -p "$WORK" "$OUT"
bash .clusterfuzzlite/build.sh

mapfile -t targets < <(sed -n 's/^mmt_add_fuzzer(\([a-z_0-9]*\) .*/\1/p' fuzz/CMakeLists.txt)
[ -f "$OUT/fuzz_config.dict" ] || { echo "oss-fuzz: no fuzz_config.dict in \$OUT" >&2; exit 1; }
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for target in "${targets[@]}"; do
  [ -x "$OUT/$target" ] || { echo "oss-fuzz: $target was not built into \$OUT" >&2; exit 1; }
  [ -f "$OUT/${target}_seed_corpus.zip" ] || { echo "oss-fuzz: no ${target}_seed_corpus.zip" >&2; exit 1; }
  # Self-contained: the distribution's libraries resolve from $OUT/lib (the run-time
  # image has no packages of the build image).
  if ldd "$OUT/$target" | grep -E 'libboost_context|libspdlog|libfmt|libxxhash|libtomlplusplus' | grep -v "=> $OUT/lib/"; then
    echo "oss-fuzz: $target resolves the libraries above outside \$OUT/lib" >&2
    exit 1
  fi
  mkdir "$scratch/$target"
  unzip -q "$OUT/${target}_seed_corpus.zip" -d "$scratch/$target"
  [ -n "$(ls -A "$scratch/$target")" ] || { echo "oss-fuzz: ${target}_seed_corpus.zip is empty" >&2; exit 1; }
  dict=()
  if [ -f "$OUT/$target.dict" ]; then dict=(-dict="$OUT/$target.dict"); fi
  if ! "$OUT/$target" "${dict[@]}" -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix="$scratch/$target-" "$scratch/$target" >"$scratch/$target.log" 2>&1; then
    tail -n 40 "$scratch/$target.log"
    echo "oss-fuzz: $target failed" >&2
    exit 1
  fi
  echo "oss-fuzz: $target ran ${seconds}s: $(grep -E '^stat::number_of_executed_units' "$scratch/$target.log")"
done
