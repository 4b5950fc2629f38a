# `cmake --install build [--prefix DIR]`: bin/attnpaths, lib/libattnpaths_<stage>.a (one per stage,
# docs/architecture.md), include/attnpaths/**.hpp
# and lib/cmake/attnpaths/ so that another CMake project can use
#   find_package(attnpaths REQUIRED)  ...  target_link_libraries(app PRIVATE attnpaths::attnpaths)
# Included by the top-level CMakeLists.txt after the targets are defined.
include(CMakePackageConfigHelpers)
set(ATTNPATHS_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/attnpaths)

set_target_properties(attnpaths_lib PROPERTIES EXPORT_NAME attnpaths)
install(TARGETS attnpaths RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
get_property(ATTNPATHS_STAGES GLOBAL PROPERTY ATTN_STAGES)
list(TRANSFORM ATTNPATHS_STAGES PREPEND attnpaths_ OUTPUT_VARIABLE ATTNPATHS_STAGE_TARGETS)
install(TARGETS attnpaths_lib ${ATTNPATHS_STAGE_TARGETS} EXPORT attnpathsTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY ${CMAKE_SOURCE_DIR}/src/attnpaths DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.hpp")
install(FILES ${CMAKE_BINARY_DIR}/generated/attnpaths_version.hpp DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT attnpathsTargets NAMESPACE attnpaths:: DESTINATION ${ATTNPATHS_CMAKE_DIR})

# Where this build found PETSc and SLEPc (their .pc directories), so that a consumer finds the same.
pkg_get_variable(ATTNPATHS_PETSC_PCDIR PETSc pcfiledir)
pkg_get_variable(ATTNPATHS_SLEPC_PCDIR SLEPc pcfiledir)
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/attnpathsConfig.cmake.in
  ${CMAKE_BINARY_DIR}/attnpathsConfig.cmake INSTALL_DESTINATION ${ATTNPATHS_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/attnpathsConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/attnpathsConfig.cmake ${CMAKE_BINARY_DIR}/attnpathsConfigVersion.cmake
        DESTINATION ${ATTNPATHS_CMAKE_DIR})
