# Fuzz harnesses (spec/fuzz/fuzz_<target>.c, seed corpus in spec/fuzz/<target>/).
#
# Ordinary build: each harness is linked with spec/fuzz/replay_main.c, and
# ctest's fuzz_<target> test runs every corpus file through it once
# (labels unit and fuzz), under ASan/UBSan when ENR_SANITIZE is set.
#
# -DENR_FUZZ=ON (clang only, e.g. with -DENR_SANITIZE=address,undefined):
# the core is built with coverage (-fsanitize=fuzzer-no-link) and the
# harnesses are libFuzzer programs; the same ctest tests replay the corpus
# (-runs=0), and scripts/ci-extra fuzzes each target for a bounded time.
option(ENR_FUZZ "Build the fuzz harnesses as libFuzzer programs (clang)" OFF)

set(ENR_FUZZ_TARGETS docker_event docker_list docker_inspect json_pick identity tbot grpc_frame grpc_headers
    teleport_reply http2_conn config)

if(ENR_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "ENR_FUZZ needs clang (CC=clang): libFuzzer ships with it")
  endif()
  target_compile_options(enr_core PRIVATE -fsanitize=fuzzer-no-link)
  target_compile_options(enr_proto PRIVATE -fsanitize=fuzzer-no-link)
endif()

foreach(t IN LISTS ENR_FUZZ_TARGETS)
  if(ENR_FUZZ)
    add_executable(fuzz_${t} spec/fuzz/fuzz_${t}.c)
    target_compile_options(fuzz_${t} PRIVATE -fsanitize=fuzzer)
    target_link_options(fuzz_${t} PRIVATE -fsanitize=fuzzer)
    set(_replay -runs=0)
  else()
    add_executable(fuzz_${t} spec/fuzz/fuzz_${t}.c spec/fuzz/replay_main.c)
    set(_replay "")
  endif()
  target_link_libraries(fuzz_${t} PRIVATE enr_core)
  add_test(NAME fuzz_${t} COMMAND fuzz_${t} ${_replay} ${CMAKE_SOURCE_DIR}/spec/fuzz/${t})
  set_tests_properties(fuzz_${t} PROPERTIES LABELS "unit;fuzz" ENVIRONMENT "${ENR_TEST_ENV}")
endforeach()
