# triage's integration tests (label "integration"): a real vigil-triage with
# its real policy worker, a sink standing in for notification and reporting
# (triage_sink.c), test plugins built from triage_test_plugin.c, and an
# in-process sender playing intake over the real link with CURVE. The kit
# (triage_kit.c) makes keys, configs and processes.
if(NOT TARGET vigil-triage)
  return()
endif()

add_executable(vigil-triage-sink ${CMAKE_CURRENT_LIST_DIR}/triage_sink.c)
target_link_libraries(vigil-triage-sink PRIVATE vigil_runtime)

add_library(triage_kit STATIC ${CMAKE_CURRENT_LIST_DIR}/triage_kit.c)
target_include_directories(triage_kit PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(triage_kit PUBLIC vigil_link_harness vigil_runtime)

# The test plugin, built as several "versions" (and one broken build) for
# the crash, hang and hot-reload tests. Output outside the shipped plugin dir.
foreach(variant v1 v2 v3 bad)
  vigil_add_plugin(triage_testplug_${variant} ${CMAKE_CURRENT_LIST_DIR}/triage_test_plugin.c)
  set_target_properties(triage_testplug_${variant} PROPERTIES
    LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests/plugins)
endforeach()
target_compile_definitions(triage_testplug_v1 PRIVATE TEST_PLUGIN_VERSION="1.0.0")
target_compile_definitions(triage_testplug_v2 PRIVATE TEST_PLUGIN_VERSION="2.0.0")
target_compile_definitions(triage_testplug_v3 PRIVATE TEST_PLUGIN_VERSION="3.0.0")
target_compile_definitions(triage_testplug_bad PRIVATE TEST_PLUGIN_VERSION="9.9.9-broken"
                           TEST_PLUGIN_BROKEN=1)

foreach(name crash hang reload flow share sandbox settings)
  if(NOT EXISTS ${CMAKE_CURRENT_LIST_DIR}/triage_${name}_test.c)
    continue()
  endif()
  add_executable(triage_${name}_test ${CMAKE_CURRENT_LIST_DIR}/triage_${name}_test.c)
  target_link_libraries(triage_${name}_test PRIVATE triage_kit)
  target_compile_definitions(triage_${name}_test PRIVATE VIGIL_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
  add_dependencies(triage_${name}_test triage_testplug_v1 triage_testplug_v2 triage_testplug_v3
                   triage_testplug_bad vigil-triage-sink vigil-policy-worker)
  set_target_properties(triage_${name}_test PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  set(vigilctl_arg "")
  if(TARGET vigilctl)
    set(vigilctl_arg $<TARGET_FILE:vigilctl>)
    add_dependencies(triage_${name}_test vigilctl)
  endif()
  add_test(NAME integration.triage_${name}
           COMMAND triage_${name}_test $<TARGET_FILE:vigil-triage> $<TARGET_FILE:vigil-triage-sink>
                   ${CMAKE_BINARY_DIR}/tests/plugins ${vigilctl_arg})
  set_tests_properties(integration.triage_${name} PROPERTIES LABELS integration TIMEOUT 300)
endforeach()

# End to end with the real intake (its kit starts intake and "the triage
# stand-in", here the real vigil-triage): personal data never reaches triage.
if(TARGET vigil-intake AND TARGET intake_kit)
  add_executable(triage_intake_e2e_test ${CMAKE_CURRENT_LIST_DIR}/triage_intake_e2e_test.c)
  target_link_libraries(triage_intake_e2e_test PRIVATE intake_kit)
  add_dependencies(triage_intake_e2e_test triage_testplug_v1 vigil-policy-worker)
  set_target_properties(triage_intake_e2e_test PROPERTIES
    RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  add_test(NAME integration.triage_intake_e2e
           COMMAND triage_intake_e2e_test $<TARGET_FILE:vigil-intake> $<TARGET_FILE:vigil-triage>
                   ${CMAKE_BINARY_DIR}/tests/plugins)
  set_tests_properties(integration.triage_intake_e2e PROPERTIES LABELS integration TIMEOUT 300)
endif()

# The SDK template built out of tree (installed SDK, find_package) and run by
# a real triage.
add_executable(triage_template_test ${CMAKE_CURRENT_LIST_DIR}/triage_template_test.c)
target_link_libraries(triage_template_test PRIVATE triage_kit)
set_target_properties(triage_template_test PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
add_dependencies(triage_template_test vigil-triage-sink vigil-policy-worker)
add_test(NAME integration.triage_sdk
         COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/triage_sdk_test.sh ${CMAKE_BINARY_DIR}
                 $<TARGET_FILE:triage_template_test> $<TARGET_FILE:vigil-triage>
                 $<TARGET_FILE:vigil-triage-sink> ${CMAKE_C_COMPILER})
set_tests_properties(integration.triage_sdk PROPERTIES LABELS integration TIMEOUT 300)

# --check-config runs triage's own rules across keys (regions, codes, the
# default region), not only the key table's: a config naming a default
# region that does not exist exits 78 and names the key.
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/triage_bad_default.conf
     "triage = { default_region = \"nowhere\"; };\n")
add_test(NAME integration.triage_check_config_rules
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/plugin_expect_exit.sh 78
                 "triage_bad_default.conf: triage.default_region: 'nowhere' is not a configured region"
                 $<TARGET_FILE:vigil-triage> --check-config
                 --config ${CMAKE_CURRENT_BINARY_DIR}/triage_bad_default.conf)
set_tests_properties(integration.triage_check_config_rules PROPERTIES LABELS integration)
