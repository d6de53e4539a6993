# cmake -DNOTES=DIR -P tests/skip_notes.cmake: print the reason each skipped test left in DIR
# (one file per test), for ctest to show after its summary (tests/CTestCustom.cmake.in).
file(GLOB notes "${NOTES}/*")
foreach(note IN LISTS notes)
  file(READ "${note}" text)
  string(STRIP "${text}" text)
  # to stdout, which ctest shows (a message() goes to stderr)
  execute_process(COMMAND "${CMAKE_COMMAND}" -E echo "\n${text}")
endforeach()
