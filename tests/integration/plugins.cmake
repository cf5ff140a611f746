# Plugin, policy host and SDK tests (owned by the plugins work, H6a).
#
#   plugin fixtures   tests/integration/plugin_fixtures/: fixture.c built once per
#                     deliberate defect (bad magic, ABI major, newer minor, small
#                     struct, fingerprint, no entry symbol, host symbol, init fails,
#                     self_test fails, init crash) and as good v1/v2; dump.c, which
#                     writes down everything a plugin can see (no-personal-data tests)
#   unit.test_plugin_*  cmocka tests in tests/unit/ (loader, trust, builder, config,
#                     host with a real worker: crash, hang, quarantine, reload)
#   integration.plugin_*  the rules corpus through vigil-policy-test, the tool
#                     failing on a wrong expectation, replay, and the SDK installed
#                     into a temporary prefix with a template built out of tree
if(NOT TARGET vigil_policy OR NOT TARGET rules)
  return()
endif()

set(plugin_fixture_dir ${CMAKE_BINARY_DIR}/tests/plugin-fixtures)
set(plugin_fixture_src ${CMAKE_CURRENT_LIST_DIR}/plugin_fixtures)
set(plugin_fixture_targets "")
foreach(kind GOOD BAD_MAGIC BAD_MAJOR NEWER_MINOR SMALL_STRUCT BAD_FINGERPRINT NO_ENTRY
             INIT_FAILS SELF_TEST_FAILS INIT_CRASH)
  string(TOLOWER ${kind} stem)
  vigil_add_plugin(plugin_fixture_${stem} ${plugin_fixture_src}/fixture.c)
  target_compile_definitions(plugin_fixture_${stem} PRIVATE FIXTURE_KIND=${kind})
  set_target_properties(plugin_fixture_${stem} PROPERTIES OUTPUT_NAME ${stem}
                        LIBRARY_OUTPUT_DIRECTORY ${plugin_fixture_dir})
  list(APPEND plugin_fixture_targets plugin_fixture_${stem})
endforeach()
# The same plugin name at version 2.0.0, for hot reload.
vigil_add_plugin(plugin_fixture_good_v2 ${plugin_fixture_src}/fixture.c)
target_compile_definitions(plugin_fixture_good_v2 PRIVATE FIXTURE_VERSION="2.0.0")
set_target_properties(plugin_fixture_good_v2 PROPERTIES OUTPUT_NAME good_v2
                      LIBRARY_OUTPUT_DIRECTORY ${plugin_fixture_dir})
# Calls a host function directly: must be linked WITHOUT --no-undefined to
# exist at all, and the loader must refuse it.
add_library(plugin_fixture_host_symbol MODULE ${plugin_fixture_src}/fixture.c)
target_include_directories(plugin_fixture_host_symbol PRIVATE ${CMAKE_SOURCE_DIR}/plugins/include)
target_compile_definitions(plugin_fixture_host_symbol PRIVATE FIXTURE_KIND=HOST_SYMBOL)
set_target_properties(plugin_fixture_host_symbol PROPERTIES PREFIX "" SUFFIX ".so"
                      OUTPUT_NAME host_symbol C_VISIBILITY_PRESET hidden
                      LIBRARY_OUTPUT_DIRECTORY ${plugin_fixture_dir})
vigil_add_plugin(plugin_fixture_dump ${plugin_fixture_src}/dump.c)
set_target_properties(plugin_fixture_dump PROPERTIES OUTPUT_NAME dump
                      LIBRARY_OUTPUT_DIRECTORY ${plugin_fixture_dir})
list(APPEND plugin_fixture_targets plugin_fixture_good_v2 plugin_fixture_host_symbol
     plugin_fixture_dump)
add_custom_target(plugin_fixtures DEPENDS ${plugin_fixture_targets})

# Unit tests (tests/unit/test_plugin_*.c are built by tests/unit; they need
# the policy libraries, the fixtures, the shipped plugins and the worker).
foreach(t test_plugin_loader test_plugin_trust test_plugin_builder test_plugin_config
          test_plugin_host test_plugin_replay)
  if(NOT TARGET ${t})
    continue()
  endif()
  target_link_libraries(${t} PRIVATE vigil_policy vigil_policy_worker)
  target_compile_definitions(${t} PRIVATE
    PLUGIN_FIXTURE_DIR="${plugin_fixture_dir}"
    PLUGIN_SHIPPED_DIR="${VIGIL_PLUGIN_OUTPUT_DIR}"
    PLUGIN_WORKER_PATH="$<TARGET_FILE:vigil-policy-worker>"
    PLUGIN_REPLAY_PATH="$<TARGET_FILE:vigil-policy-replay>"
    VIGIL_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
  add_dependencies(${t} plugin_fixtures rules example-workload example-afterhours
                   vigil-policy-worker vigil-policy-replay)
endforeach()

# The rules plugin's corpus, as a region would run it in CI.
set(plugin_rules_data ${CMAKE_SOURCE_DIR}/tests/data/plugin_rules)
add_test(NAME integration.plugin_rules_corpus
         COMMAND vigil-policy-test --region ${plugin_rules_data}/region.conf
                 --directory ${plugin_rules_data}/directory.json
                 $<TARGET_FILE:rules> ${plugin_rules_data}/cases.jsonl)
# The example plugins, each with its own corpus.
set(plugin_examples_data ${CMAKE_SOURCE_DIR}/tests/data/plugin_examples)
add_test(NAME integration.plugin_example_workload
         COMMAND vigil-policy-test --region ${plugin_examples_data}/region.conf
                 $<TARGET_FILE:example-workload> ${plugin_examples_data}/workload.jsonl)
add_test(NAME integration.plugin_example_afterhours
         COMMAND vigil-policy-test --region ${plugin_examples_data}/region.conf
                 $<TARGET_FILE:example-afterhours> ${plugin_examples_data}/afterhours.jsonl)
# The tool must fail (exit 1, naming the case) on a wrong expectation.
add_test(NAME integration.plugin_policy_test_detects_failure
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/plugin_expect_exit.sh 1 "FAIL  c-wrong"
                 $<TARGET_FILE:vigil-policy-test> --region ${plugin_rules_data}/region.conf
                 $<TARGET_FILE:rules> ${plugin_rules_data}/cases-wrong.jsonl)
# A plugin the loader refuses makes the tool exit 2 with the loader's reason.
add_test(NAME integration.plugin_policy_test_refuses_bad_plugin
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/plugin_expect_exit.sh 2 "bad magic number"
                 $<TARGET_FILE:vigil-policy-test> ${plugin_fixture_dir}/bad_magic.so
                 ${plugin_rules_data}/cases.jsonl)
# The SDK: install into a temporary prefix, build the installed template out
# of tree with pkg-config and with find_package, load and route with both.
add_test(NAME integration.plugin_sdk_out_of_tree
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/plugin_sdk_test.sh ${CMAKE_BINARY_DIR}
                 $<TARGET_FILE:vigil-policy-test> ${CMAKE_C_COMPILER})
set_tests_properties(integration.plugin_rules_corpus
                     integration.plugin_example_workload integration.plugin_example_afterhours
                     integration.plugin_policy_test_detects_failure
                     integration.plugin_policy_test_refuses_bad_plugin
                     integration.plugin_sdk_out_of_tree
                     PROPERTIES LABELS integration TIMEOUT 300)
