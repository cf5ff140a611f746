# The operator's config documentation against the real services (label
# "integration"): compose/config/ and the real-host example in
# docs/operations.md load with --check-config, and operations.md's key
# tables hold every key the services print, with the defaults and meanings
# they print. Python from Debian (/usr/bin/python3), as the other
# Python-based tests.
add_test(NAME integration.config_docs
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/config_docs_test.py ${CMAKE_SOURCE_DIR}
                 $<TARGET_FILE:vigil-intake> $<TARGET_FILE:vigil-triage>)
set_tests_properties(integration.config_docs PROPERTIES LABELS integration TIMEOUT 120)

# scripts/keys.sh: every key a mesh needs; with --secrets-dir (compose) each
# secret only in its owner's folder.
if(TARGET vigilctl)
  add_test(NAME integration.keys
           COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/keys_test.sh ${CMAKE_SOURCE_DIR}/scripts/keys.sh
                   $<TARGET_FILE:vigilctl>)
  set_tests_properties(integration.keys PROPERTIES LABELS integration TIMEOUT 120)
endif()
