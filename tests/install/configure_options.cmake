# ctest configure_options (cmake -P): configures the source tree in scratch directories
#  1. with -DATTNPATHS_BUILD_TESTS=OFF and GoogleTest made unfindable: must succeed, define the
#     attnpaths command and no test targets, and be portable (no -march=native) by default;
#  2. with tests ON, then OFF in the same directory: ctest must then list no tests;
#  3. with pkg-config unable to see PETSc: must fail with a message that names PETSc and the hints.
#   -DSRC=<source tree> -DTMP=<scratch directory>
foreach(v SRC TMP)
  if(NOT ${v})
    message(FATAL_ERROR "configure_options: -D${v}= is required")
  endif()
endforeach()
set(dir ${TMP}/configure_options)
file(REMOVE_RECURSE ${dir})

execute_process(COMMAND ${CMAKE_COMMAND} -S ${SRC} -B ${dir}/notests -DATTNPATHS_BUILD_TESTS=OFF
                        -DCMAKE_DISABLE_FIND_PACKAGE_GTest=ON
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "configure_options: -DATTNPATHS_BUILD_TESTS=OFF without GoogleTest failed:\n${out}\n${err}")
endif()
file(READ ${dir}/notests/CMakeCache.txt cache)
if(NOT cache MATCHES "ATTNPATHS_NATIVE:BOOL=OFF")
  message(FATAL_ERROR "configure_options: ATTNPATHS_NATIVE is not OFF by default")
endif()
file(GLOB_RECURSE makefiles ${dir}/notests/CMakeFiles/*/flags.make)
if(NOT makefiles)
  message(FATAL_ERROR "configure_options: no CMakeFiles/*/flags.make to check the compile flags in")
endif()
foreach(m IN LISTS makefiles)
  file(READ ${m} flags)
  if(flags MATCHES "march=native")
    message(FATAL_ERROR "configure_options: the default build uses -march=native (${m})")
  endif()
endforeach()
if(NOT EXISTS ${dir}/notests/CMakeFiles/attnpaths.dir OR EXISTS ${dir}/notests/tests)
  message(FATAL_ERROR "configure_options: with tests OFF expected the attnpaths target and no tests/")
endif()
message(STATUS "tests OFF, GoogleTest unavailable: configured; portable flags by default")

# A build configured with the tests, then reconfigured without them (scripts/main.sh's set-up after
# scripts/test.sh's), must list no tests: ctest would otherwise run the earlier binaries, stale.
foreach(tests ON OFF)
  execute_process(COMMAND ${CMAKE_COMMAND} -S ${SRC} -B ${dir}/switch -DATTNPATHS_BUILD_TESTS=${tests}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "configure_options: -DATTNPATHS_BUILD_TESTS=${tests} failed:\n${out}\n${err}")
  endif()
  execute_process(COMMAND ${CMAKE_CTEST_COMMAND} -N WORKING_DIRECTORY ${dir}/switch OUTPUT_VARIABLE listed)
  if(tests STREQUAL "ON" AND listed MATCHES "Total Tests: 0")
    message(FATAL_ERROR "configure_options: with tests ON, ctest lists none:\n${listed}")
  elseif(tests STREQUAL "OFF" AND NOT listed MATCHES "Total Tests: 0")
    message(FATAL_ERROR "configure_options: reconfigured with tests OFF, ctest still lists:\n${listed}")
  endif()
endforeach()
message(STATUS "tests ON, then OFF in the same build: ctest lists none")

set(ENV{PKG_CONFIG_LIBDIR} ${dir}/empty)
set(ENV{PKG_CONFIG_PATH} "")
unset(ENV{PETSC_DIR})
unset(ENV{SLEPC_DIR})
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SRC} -B ${dir}/nopetsc -DATTNPATHS_BUILD_TESTS=OFF
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0)
  message(FATAL_ERROR "configure_options: configured without PETSc visible to pkg-config")
endif()
if(NOT err MATCHES "PETSc >= 3.18" OR NOT err MATCHES "PETSC_DIR" OR NOT err MATCHES "docs/install.md")
  message(FATAL_ERROR "configure_options: the missing-PETSc message does not name PETSc and the hints:\n${err}")
endif()
message(STATUS "without PETSc: configure fails naming it and the hints")
