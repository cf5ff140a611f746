# bench_intake: intake's front door against RabbitMQ (run tests/bench/bench_intake.sh;
# see docs/performance.md, "Intake"). Built only when librabbitmq-dev is installed.
pkg_check_modules(RABBITMQ_C IMPORTED_TARGET librabbitmq)
if(RABBITMQ_C_FOUND AND TARGET intake_kit)
  add_executable(bench_intake ${CMAKE_CURRENT_LIST_DIR}/bench_intake.c)
  target_link_libraries(bench_intake PRIVATE intake_kit PkgConfig::RABBITMQ_C pthread)
  set_target_properties(bench_intake PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench)
else()
  message(STATUS "bench_intake not built: needs librabbitmq-dev (apt-get install librabbitmq-dev)")
endif()
