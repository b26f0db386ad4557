#!/bin/bash -eu
# Builds every mmtorture fuzz target the way OSS-Fuzz and ClusterFuzzLite build a
# project: compilers and flags from $CC $CXX $CFLAGS $CXXFLAGS, the engine from
# $LIB_FUZZING_ENGINE, scratch in $WORK, and into $OUT each target with
# <target>_seed_corpus.zip (fuzz/corpus/<target>/) and <target>.dict (the knob
# dictionary, fuzz/corpus/<target>.dict, where there is one). The infrastructure runs it
# as $SRC/build.sh in the checkout (the Dockerfile's WORKDIR); CI runs it here with the
# same variables (tests/fuzz/oss_fuzz_build.sh).
if [ -f fuzz/CMakeLists.txt ]; then root=$PWD; else root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd); fi
: "${CC:?} ${CXX:?} ${CFLAGS?} ${CXXFLAGS?} ${LIB_FUZZING_ENGINE:?} ${OUT:?} ${WORK:?}"

# OSS-Fuzz's C++ flags select libc++; mmtorture's libraries (Boost.Context, spdlog, fmt)
# come from the distribution's packages, built against libstdc++, so the targets use
# libstdc++ too.
CXXFLAGS=${CXXFLAGS//-stdlib=libc++/}

# The targets are the mmt_add_fuzzer() lines of fuzz/CMakeLists.txt.
mapfile -t targets < <(sed -n 's/^mmt_add_fuzzer(\([a-z_0-9]*\) .*/\1/p' "$root/fuzz/CMakeLists.txt")
[ ${#targets[@]} -gt 0 ] || { echo "build.sh: no mmt_add_fuzzer() targets in fuzz/CMakeLists.txt" >&2; exit 1; }

generator=Ninja
command -v ninja >/dev/null || generator="Unix Makefiles"
build="$WORK/mmtorture"
# The flags are the infrastructure's alone: no build type (its own -O), no sanitizer or
# fuzzer instrumentation of ours (CFLAGS has them), the engine it names.
cmake -S "$root" -B "$build" -G "$generator" -DCMAKE_BUILD_TYPE= \
  -DCMAKE_C_COMPILER="$CC" -DCMAKE_CXX_COMPILER="$CXX" -DCMAKE_C_FLAGS="$CFLAGS" -DCMAKE_CXX_FLAGS="$CXXFLAGS" \
  -DMMT_FUZZ=ON -DMMT_FUZZ_INSTRUMENT=OFF -DMMT_SANITIZE= -DMMT_FUZZ_ENGINE="$LIB_FUZZING_ENGINE" \
  -DMMT_BUILD_TESTS=OFF -DMMT_BUILD_BENCH=OFF -DCMAKE_BUILD_RPATH='$ORIGIN/lib' >/dev/null
cmake --build "$build" --parallel "$(nproc)" --target "${targets[@]}"

# The run-time images have none of the build image's packages: the shared libraries the
# targets use from them go to $OUT/lib, where each target's RUNPATH ($ORIGIN/lib) finds them.
shared_libraries='libboost_context|libspdlog|libfmt|libxxhash|libtomlplusplus'
mkdir -p "$OUT/lib"
for target in "${targets[@]}"; do
  cp "$build/bin/$target" "$OUT/$target"
  ldd "$OUT/$target" | awk '/=> \//{print $3}' | grep -E "/($shared_libraries)[.]" | while read -r library; do
    cp -L "$library" "$OUT/lib/"
  done
  rm -f "$OUT/${target}_seed_corpus.zip"
  if [ -d "$root/fuzz/corpus/$target" ]; then
    (cd "$root/fuzz/corpus/$target" && zip -q -r "$OUT/${target}_seed_corpus.zip" .)
  fi
  if [ -f "$root/fuzz/corpus/$target.dict" ]; then cp "$root/fuzz/corpus/$target.dict" "$OUT/$target.dict"; fi
done
echo "build.sh: ${targets[*]} -> $OUT"
