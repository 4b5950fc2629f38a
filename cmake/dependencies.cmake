# Helpers for finding the dependencies on a machine without root: Debian packages, environment
# modules or Spack (docs/install.md). Included by the top-level CMakeLists.txt.

# attn_require_found(VAR WHAT HOW) — stop the configure with one message naming what is missing
# and how to point CMake at it, when VAR is false.
function(attn_require_found var what how)
  if(NOT ${var})
    message(FATAL_ERROR "attnpaths: ${what} not found. ${how}. "
      "Install guide: docs/install.md (modules, Spack, and the hint variables).")
  endif()
endfunction()

# attn_petsc_pkgconfig_hints() — PETSc and SLEPc are found through pkg-config (PETSc.pc, SLEPc.pc).
# Besides PKG_CONFIG_PATH and CMAKE_PREFIX_PATH (pkg_check_modules searches <prefix>/lib/pkgconfig),
# honour the variables PETSc's and SLEPc's own installs and their modules set: PETSC_DIR, PETSC_ARCH
# and SLEPC_DIR (from the environment or -D).
function(attn_petsc_pkgconfig_hints)
  set(dirs "")
  foreach(var PETSC_DIR SLEPC_DIR)
    set(root "${${var}}")
    if(NOT root AND DEFINED ENV{${var}})
      set(root "$ENV{${var}}")
    endif()
    set(arch "${PETSC_ARCH}")
    if(NOT arch AND DEFINED ENV{PETSC_ARCH})
      set(arch "$ENV{PETSC_ARCH}")
    endif()
    if(root)
      if(arch)
        list(APPEND dirs "${root}/${arch}/lib/pkgconfig")
      endif()
      list(APPEND dirs "${root}/lib/pkgconfig")
    endif()
  endforeach()
  if(dirs)
    string(REPLACE ";" ":" extra "${dirs}")
    if(DEFINED ENV{PKG_CONFIG_PATH} AND NOT "$ENV{PKG_CONFIG_PATH}" STREQUAL "")
      set(ENV{PKG_CONFIG_PATH} "${extra}:$ENV{PKG_CONFIG_PATH}")
    else()
      set(ENV{PKG_CONFIG_PATH} "${extra}")
    endif()
    message(STATUS "attnpaths: pkg-config also searches ${extra} (PETSC_DIR/PETSC_ARCH/SLEPC_DIR)")
  endif()
endfunction()
