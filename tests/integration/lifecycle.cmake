# The runtime skeleton's lifecycle tests (label "integration"): a tiny
# service built with service_main (svc_lifecycle.c) run as real processes
# with real keys, sockets, sqlite files and signals: arguments and exit
# codes, --check-config, security defaults, SIGTERM drain, SIGHUP reload,
# store and port failures, and injected commit failures (VIGIL_FAULT, see
# services/common/include/vigil/fault.h). The kit (lifecycle_kit.c) makes
# the files and processes.
add_executable(vigil-lifecycle ${CMAKE_CURRENT_LIST_DIR}/svc_lifecycle.c)
target_link_libraries(vigil-lifecycle PRIVATE vigil_runtime)

add_library(lifecycle_kit STATIC ${CMAKE_CURRENT_LIST_DIR}/lifecycle_kit.c)
target_link_libraries(lifecycle_kit PUBLIC vigil_runtime vigil_link_harness)

foreach(name cli security drain reload exit fault)
  if(NOT EXISTS ${CMAKE_CURRENT_LIST_DIR}/lifecycle_${name}_test.c)
    continue()
  endif()
  add_executable(lifecycle_${name}_test ${CMAKE_CURRENT_LIST_DIR}/lifecycle_${name}_test.c)
  target_link_libraries(lifecycle_${name}_test PRIVATE lifecycle_kit)
  set_target_properties(lifecycle_${name}_test PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  add_test(NAME integration.lifecycle_${name}
           COMMAND lifecycle_${name}_test $<TARGET_FILE:vigil-lifecycle>)
  set_tests_properties(integration.lifecycle_${name} PROPERTIES LABELS integration TIMEOUT 180)
endforeach()
