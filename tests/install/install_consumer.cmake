# ctest install_consumer (cmake -P): `cmake --install` of this build into a scratch prefix, then a
# separate project (tests/install/consumer) configured against it with find_package(attnpaths),
# built and run; and the installed command answers --version.
#   -DBUILD=<this build> -DSRC=<source tree> -DTMP=<scratch directory>
foreach(v BUILD SRC TMP)
  if(NOT ${v})
    message(FATAL_ERROR "install_consumer: -D${v}= is required")
  endif()
endforeach()
set(prefix ${TMP}/install_consumer/prefix)
set(consumer ${TMP}/install_consumer/build)
file(REMOVE_RECURSE ${TMP}/install_consumer)

function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "install_consumer: ${what} failed (${rc}):\n${out}\n${err}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

run("cmake --install" ${CMAKE_COMMAND} --install ${BUILD} --prefix ${prefix})
foreach(f bin/attnpaths include/attnpaths/core/linalg.hpp include/attnpaths_version.hpp)
  if(NOT EXISTS ${prefix}/${f})
    message(FATAL_ERROR "install_consumer: ${prefix}/${f} was not installed")
  endif()
endforeach()
file(GLOB config ${prefix}/lib*/cmake/attnpaths/attnpathsConfig.cmake)
file(GLOB lib ${prefix}/lib*/libattnpaths_core.a)   # one library per stage (docs/architecture.md)
if(NOT config OR NOT lib)
  message(FATAL_ERROR "install_consumer: no lib/cmake/attnpaths/attnpathsConfig.cmake or libattnpaths_core.a under ${prefix}")
endif()

run("configuring the consumer against ${prefix}" ${CMAKE_COMMAND} -S ${SRC}/tests/install/consumer -B ${consumer}
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=Release)
run("building the consumer" ${CMAKE_COMMAND} --build ${consumer})
run("running the consumer" ${consumer}/consumer)
message(STATUS "${last_output}")
string(FIND "${last_output}" " ok" found)
if(found EQUAL -1)
  message(FATAL_ERROR "install_consumer: unexpected output: ${last_output}")
endif()
run("the installed attnpaths --version" ${prefix}/bin/attnpaths --version)
message(STATUS "installed: ${last_output}")
