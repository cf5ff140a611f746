# bench_triage: triage decisions per second end to end and per-call plugin
# cost, with baselines (docs/performance.md, "Triage"). Built, never run by
# ctest:
#   build/tests/bench_triage build/bin/vigil-triage build/bin/vigil-triage-sink \
#       build/lib/vigil/plugins/rules.so build/tests/plugins [--cases N] [--runs R]
if(TARGET triage_kit AND TARGET triage_core AND TARGET rules)
  add_executable(bench_triage ${CMAKE_CURRENT_LIST_DIR}/bench_triage.c)
  target_link_libraries(bench_triage PRIVATE triage_core triage_kit)
  add_dependencies(bench_triage vigil-triage vigil-triage-sink rules triage_testplug_v1
                   vigil-policy-worker)
  set_target_properties(bench_triage PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
endif()
