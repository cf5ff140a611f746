# Soak runs (label "heavy", excluded from the default run and from CI):
# the kill/restart tests repeated with a fresh random seed each time, so
# many more SIGKILL schedules are tried than one run covers. Each iteration
# prints its seed; VIGIL_TEST_SEED=N replays one. Run with
# `./scripts/test.sh --heavy` (about 2 minutes on 2 cores).
set(VIGIL_SOAK_ROUNDS 10 CACHE STRING "iterations of each soak test")
set(soak_loop [=[
rounds=$1; shift
for i in $(seq 1 "$rounds"); do
  echo "== soak round $i of $rounds"
  "$@" || exit 1
done
]=])
if(TARGET link_crash_test)
  add_test(NAME heavy.link_crash_soak
           COMMAND sh -c "${soak_loop}" soak ${VIGIL_SOAK_ROUNDS}
                   $<TARGET_FILE:link_crash_test> $<TARGET_FILE:vigil-link-probe-receiver>
                   $<TARGET_FILE:vigil-link-probe-sender>)
  set_tests_properties(heavy.link_crash_soak PROPERTIES LABELS heavy TIMEOUT 1800)
endif()
if(TARGET intake_crash_test)
  add_test(NAME heavy.intake_crash_soak
           COMMAND sh -c "${soak_loop}" soak ${VIGIL_SOAK_ROUNDS}
                   $<TARGET_FILE:intake_crash_test> $<TARGET_FILE:vigil-intake>
                   $<TARGET_FILE:vigil-intake-triage-standin>)
  set_tests_properties(heavy.intake_crash_soak PROPERTIES LABELS heavy TIMEOUT 1800)
endif()
