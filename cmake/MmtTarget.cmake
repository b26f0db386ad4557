# The one place compile flags are decided. Every library, program, test and fuzzer
# calls mmt_configure_target() so a sanitizer or warning change reaches all of them.
# Sanitizers may also come in through CMAKE_C(XX)_FLAGS: OSS-Fuzz and ClusterFuzzLite pass
# theirs in CFLAGS/CXXFLAGS (.clusterfuzzlite/build.sh). An ASan build needs the fiber-switch
# annotations and the LeakSanitizer scopes (MMT_SANITIZED) however it was asked for.
if(CMAKE_CXX_FLAGS MATCHES "-fsanitize=([a-z,-]*,)?address")
  set(MMT_ASAN_FROM_FLAGS ON)
endif()
# Whether MMT_FUZZ adds -fsanitize=fuzzer-no-link itself (off when the flags bring the
# engine's instrumentation, as OSS-Fuzz's do).
option(MMT_FUZZ_INSTRUMENT "Compile every target with -fsanitize=fuzzer-no-link in fuzz builds" ON)

function(mmt_configure_target target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-missing-field-initializers)
  if(MMT_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(MMT_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=${MMT_SANITIZE} -fno-omit-frame-pointer
                           -fno-sanitize-recover=all)
    target_link_options(${target} PRIVATE -fsanitize=${MMT_SANITIZE})
    target_compile_definitions(${target} PRIVATE MMT_SANITIZED=1)
  elseif(MMT_ASAN_FROM_FLAGS)
    target_compile_definitions(${target} PRIVATE MMT_SANITIZED=1)
  endif()
  if(MMT_FUZZ AND MMT_FUZZ_INSTRUMENT)
    target_compile_options(${target} PRIVATE -fsanitize=fuzzer-no-link)
  endif()
endfunction()

# mmt_add_test(name SOURCES... LIBS ...): one GoogleTest binary registered with ctest.
function(mmt_add_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gtest_main)
  mmt_configure_target(${name})
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60
                       PROPERTIES ENVIRONMENT "MMT_SHARED_DIR=${MMT_SHARED_DIR}")
endfunction()

# mmt_add_modules(DIR MODULE...): add_subdirectory(DIR/MODULE) for each module, in the
# order given (bottom-up: design.md §2). A listed module without its folder is a
# configure error: a typo or a lost folder must not silently drop a library, its tests
# or its benchmarks. A macro, not a function: what a module sets PARENT_SCOPE (src/kernel's
# MMT_KERNEL_TREE and MMT_KERNEL_VERSION) must reach the top level, where tests/ reads
# it (in a function it stopped there, and tests/kernel's 6.12-only tests and
# tests/conformance's model and maple.c tests were silently not registered).
macro(mmt_add_modules dir)
  foreach(_mmt_module ${ARGN})
    if(NOT EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${dir}/${_mmt_module}/CMakeLists.txt)
      message(FATAL_ERROR "module '${_mmt_module}' is listed but ${dir}/${_mmt_module}/CMakeLists.txt does not exist")
    endif()
    add_subdirectory(${dir}/${_mmt_module})
  endforeach()
endmacro()
