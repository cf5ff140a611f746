# Integration tests for libvigil-client and vigil-publish (helper H4).
# ack_responder is a TEST PEER standing in for intake's front door: a real
# ROUTER with CURVE and a zauth allowlist on 127.0.0.1 (see its header).
if(TARGET vigil_client AND TARGET vigil-publish)
  add_executable(ack_responder ${CMAKE_CURRENT_SOURCE_DIR}/ack_responder.c)
  target_link_libraries(ack_responder PRIVATE vigil_proto PkgConfig::CZMQ vigil_zmq
    PkgConfig::SODIUM PkgConfig::PROTOBUFC)
  set_target_properties(ack_responder PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)

  # The library used directly: matching, window, resend with the same id,
  # allowlist refusal.
  add_executable(test_client_library ${CMAKE_CURRENT_SOURCE_DIR}/test_client_library.c)
  target_link_libraries(test_client_library PRIVATE vigil_client vigil_proto PkgConfig::CMOCKA)
  set_target_properties(test_client_library PROPERTIES
    RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  target_compile_definitions(test_client_library PRIVATE
    ACK_RESPONDER="${CMAKE_BINARY_DIR}/tests/ack_responder")
  add_dependencies(test_client_library ack_responder)
  add_test(NAME integration.client.library COMMAND test_client_library)

  # The library's internal request table, built from its source (the
  # library exports only the vclient_* API).
  add_executable(test_request_table ${CMAKE_CURRENT_SOURCE_DIR}/test_request_table.c
    ${CMAKE_SOURCE_DIR}/services/client/src/request_table.c)
  target_include_directories(test_request_table PRIVATE ${CMAKE_SOURCE_DIR}/services/client/src
    ${CMAKE_SOURCE_DIR}/services/client/include)
  target_link_libraries(test_request_table PRIVATE PkgConfig::CMOCKA PkgConfig::PROTOBUFC)
  set_target_properties(test_request_table PROPERTIES
    RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  add_test(NAME unit.client_request_table COMMAND test_request_table)
  set_tests_properties(unit.client_request_table PROPERTIES LABELS "unit;client" TIMEOUT 120)

  # vigil-publish end to end, one ctest per case of publish_test.sh.
  foreach(case examples rejected json_errors unanswered kill_restart insecure)
    add_test(NAME integration.client.publish_${case}
      COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/publish_test.sh ${case}
              $<TARGET_FILE:vigil-publish> $<TARGET_FILE:ack_responder>
              ${CMAKE_SOURCE_DIR}/examples)
  endforeach()

  set_tests_properties(integration.client.library
    integration.client.publish_examples integration.client.publish_rejected
    integration.client.publish_json_errors integration.client.publish_unanswered
    integration.client.publish_kill_restart integration.client.publish_insecure
    PROPERTIES LABELS "integration;client" TIMEOUT 180)
endif()
