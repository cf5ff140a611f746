# The reliable link's benchmark (not a ctest): link throughput and ack
# latency next to the raw sqlite and ZeroMQ limits, measured in one run.
# Run: build/tests/bench_link --runs 3   (see docs/performance.md)
add_executable(bench_link ${CMAKE_CURRENT_LIST_DIR}/bench_link.c
                          ${CMAKE_SOURCE_DIR}/tests/integration/link_harness.c)
target_link_libraries(bench_link PRIVATE vigil_runtime)
target_compile_definitions(bench_link PRIVATE
  BENCH_RECEIVER_PATH="$<TARGET_FILE:vigil-link-probe-receiver>")
add_dependencies(bench_link vigil-link-probe-receiver)
set_target_properties(bench_link PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
