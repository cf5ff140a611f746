# The reliable link's integration tests (label "integration"): two real
# services (probe receiver and probe sender) over TCP with CURVE, killed with
# SIGKILL at random moments; and a receiver fed bad input. See
# tests/integration/link_crash_test.c and link_badinput_test.c.
add_executable(vigil-link-probe-receiver ${CMAKE_CURRENT_LIST_DIR}/link_probe_receiver.c)
target_link_libraries(vigil-link-probe-receiver PRIVATE vigil_runtime)
add_executable(vigil-link-probe-sender ${CMAKE_CURRENT_LIST_DIR}/link_probe_sender.c)
target_link_libraries(vigil-link-probe-sender PRIVATE vigil_runtime)

add_library(vigil_link_harness STATIC ${CMAKE_CURRENT_LIST_DIR}/link_harness.c)
target_link_libraries(vigil_link_harness PUBLIC vigil_runtime)

add_executable(link_crash_test ${CMAKE_CURRENT_LIST_DIR}/link_crash_test.c)
target_link_libraries(link_crash_test PRIVATE vigil_link_harness)
set_target_properties(link_crash_test PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
add_test(NAME integration.link_crash
         COMMAND link_crash_test $<TARGET_FILE:vigil-link-probe-receiver>
                 $<TARGET_FILE:vigil-link-probe-sender>)
set_tests_properties(integration.link_crash PROPERTIES LABELS integration TIMEOUT 120)

add_executable(link_badinput_test ${CMAKE_CURRENT_LIST_DIR}/link_badinput_test.c)
target_link_libraries(link_badinput_test PRIVATE vigil_link_harness)
set_target_properties(link_badinput_test PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
add_test(NAME integration.link_badinput
         COMMAND link_badinput_test $<TARGET_FILE:vigil-link-probe-receiver>)
set_tests_properties(integration.link_badinput PROPERTIES LABELS integration TIMEOUT 120)

# The harness's own port picker: ports outside the ephemeral range, never
# handed to two test processes at once.
add_executable(harness_ports_test ${CMAKE_CURRENT_LIST_DIR}/harness_ports_test.c)
target_link_libraries(harness_ports_test PRIVATE vigil_link_harness)
set_target_properties(harness_ports_test PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
add_test(NAME integration.harness_ports COMMAND harness_ports_test)
set_tests_properties(integration.harness_ports PROPERTIES LABELS integration TIMEOUT 60)
