# intake's integration tests (label "integration"): a real vigil-intake, a
# real triage stand-in (intake_triage_standin.c) and publishers on CURVE
# over loopback TCP, with SIGKILL. The kit (intake_kit.c) makes the keys,
# vault, configs and processes.
add_executable(vigil-intake-triage-standin ${CMAKE_CURRENT_LIST_DIR}/intake_triage_standin.c)
target_link_libraries(vigil-intake-triage-standin PRIVATE vigil_runtime)

add_library(intake_kit STATIC ${CMAKE_CURRENT_LIST_DIR}/intake_kit.c)
target_link_libraries(intake_kit PUBLIC vigil_runtime vigil_link_harness)
target_include_directories(intake_kit PUBLIC ${CMAKE_CURRENT_LIST_DIR})

foreach(name flow auth crash rotate reload)
  if(NOT EXISTS ${CMAKE_CURRENT_LIST_DIR}/intake_${name}_test.c)
    continue()
  endif()
  add_executable(intake_${name}_test ${CMAKE_CURRENT_LIST_DIR}/intake_${name}_test.c)
  target_link_libraries(intake_${name}_test PRIVATE intake_kit)
  set_target_properties(intake_${name}_test PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  add_test(NAME integration.intake_${name}
           COMMAND intake_${name}_test $<TARGET_FILE:vigil-intake>
                   $<TARGET_FILE:vigil-intake-triage-standin>)
  set_tests_properties(integration.intake_${name} PROPERTIES LABELS integration TIMEOUT 300)
endforeach()

# The upstream guide's examples, run as printed (needs protoc; skipped without it).
if(TARGET vigil_client AND TARGET vigil-publish)
  add_executable(intake_docs_test ${CMAKE_CURRENT_LIST_DIR}/intake_docs_test.c)
  target_link_libraries(intake_docs_test PRIVATE intake_kit)
  if(VIGIL_SANITIZE)
    target_compile_definitions(intake_docs_test PRIVATE VIGIL_DOCS_SANITIZE=1)
  endif()
  set_target_properties(intake_docs_test PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  add_test(NAME integration.intake_docs
           COMMAND intake_docs_test $<TARGET_FILE:vigil-intake>
                   $<TARGET_FILE:vigil-intake-triage-standin> ${CMAKE_SOURCE_DIR} ${VIGIL_GEN_DIR}
                   $<TARGET_FILE:vigil_client> $<TARGET_FILE:vigil-publish>)
  set_tests_properties(integration.intake_docs PROPERTIES LABELS integration TIMEOUT 300
                       SKIP_RETURN_CODE 77)
endif()
