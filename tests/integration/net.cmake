# net (security, metrics, admin, vigilctl): vigilctl as a real child process
# against real admin sockets served by stand-in services. See
# tests/integration/net_vigilctl_test.c. Unit tests for the same modules are
# tests/unit/test_security.c, test_metrics.c and test_admin.c.
if(TARGET vigilctl)
  add_executable(net_vigilctl_test ${CMAKE_CURRENT_LIST_DIR}/net_vigilctl_test.c)
  target_link_libraries(net_vigilctl_test PRIVATE vigil_runtime PkgConfig::CMOCKA)
  set_target_properties(net_vigilctl_test PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  add_test(NAME integration.net_vigilctl COMMAND net_vigilctl_test $<TARGET_FILE:vigilctl>)
  set_tests_properties(integration.net_vigilctl PROPERTIES LABELS integration TIMEOUT 120)
endif()
