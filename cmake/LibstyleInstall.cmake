# Installing libstyle (docs/install.md). Included by the top-level CMakeLists.txt once the
# targets `style` (libstyle.so), `style_core` (its objects) and `libstyle_cli` exist.
#
# Defines `style_static` (libstyle.a: the code of libstyle.so as one object that defines only
# the public style_* API) and installs, in the directories of GNUInstallDirs:
#   include/libstyle.h, include/libstyle_train.h                    component development
#   LIBDIR/libstyle.so.MAJOR.MINOR.PATCH, libstyle.so.MAJOR         component runtime
#   LIBDIR/libstyle.so (namelink), LIBDIR/libstyle.a                component development
#   bin/libstyle (the CLI, with an RPATH to LIBDIR)                 component runtime
#   share/man/man1/libstyle.1 (its manual page)                     component runtime
#   share/libstyle/models/*.safetensors (the bundled models)        component runtime
#   LIBDIR/cmake/libstyle/  find_package(libstyle): libstyle::style, libstyle::style_static
#   LIBDIR/pkgconfig/libstyle.pc                                    component development
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(STYLE_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/libstyle" CACHE STRING
    "Where the CMake package files of libstyle go (relative to the install prefix)")
set(STYLE_DNNL_MIN_VERSION 2.6) # as find_package(dnnl ...) in CMakeLists.txt
set(_style_package_dir "${PROJECT_BINARY_DIR}/package")

# Directories the linker (and the loader) search anyway: no -L / RPATH needed for these.
set(_style_implicit_dirs ${CMAKE_C_IMPLICIT_LINK_DIRECTORIES}
    ${CMAKE_PLATFORM_IMPLICIT_LINK_DIRECTORIES})

# ---- The OpenMP runtime that the objects were compiled against ---------------------------
# libstyle.a calls libgomp (GOMP_*) whatever compiler links it, so static consumers link that
# runtime by name (-lgomp), or by full path when the linker would not find it by itself;
# not OpenMP::OpenMP_C, which would also require the consumer to enable C and find OpenMP.
set(_style_openmp_link "")
set(_style_openmp_pc "")
foreach(_name IN LISTS OpenMP_C_LIB_NAMES)
  get_filename_component(_dir "${OpenMP_${_name}_LIBRARY}" DIRECTORY)
  if(NOT OpenMP_${_name}_LIBRARY OR _dir IN_LIST _style_implicit_dirs)
    list(APPEND _style_openmp_link ${_name})
    string(APPEND _style_openmp_pc " -l${_name}")
  else()
    list(APPEND _style_openmp_link "${OpenMP_${_name}_LIBRARY}")
    string(APPEND _style_openmp_pc " ${OpenMP_${_name}_LIBRARY}")
  endif()
endforeach()

# ---- libstyle.a --------------------------------------------------------------------------
# One object, not the library's ~100: its objects linked into one (ld -r), then every hidden
# symbol made local (objcopy --localize-hidden). Everything but the STYLE_API functions is
# compiled hidden (C_VISIBILITY_PRESET), so libstyle.a defines only the public style_* API,
# as libstyle.so exports it, and a program with its own adam_step or st_find links beside it
# (tests/symbols/). A static link pulls in the whole library: libstyle.a needs each of its
# dependencies below whatever the program calls.
set(_style_static_object "${PROJECT_BINARY_DIR}/libstyle_static.o")
add_custom_command(
  OUTPUT "${_style_static_object}"
  COMMAND "${CMAKE_LINKER}" -r -o "${_style_static_object}.partial" $<TARGET_OBJECTS:style_core>
  COMMAND "${CMAKE_OBJCOPY}" --localize-hidden "${_style_static_object}.partial"
          "${_style_static_object}"
  COMMAND "${CMAKE_COMMAND}" -E rm -f "${_style_static_object}.partial"
  DEPENDS $<TARGET_OBJECTS:style_core>
  COMMENT "Linking libstyle's objects into one object that defines only the public API"
  COMMAND_EXPAND_LISTS VERBATIM)
add_library(style_static STATIC "${_style_static_object}")
add_dependencies(style_static style_core)
add_library(libstyle::style_static ALIAS style_static)
set_target_properties(style_static PROPERTIES OUTPUT_NAME style LINKER_LANGUAGE C)
target_include_directories(style_static PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>)
# What a program linking libstyle.a needs (a static library's PRIVATE dependencies are part of
# its exported link interface, as $<LINK_ONLY:...>).
target_link_libraries(style_static PRIVATE DNNL::dnnl PNG::PNG PkgConfig::TURBOJPEG
                                           PkgConfig::JANSSON PkgConfig::EXIF PkgConfig::WEBP
                                           PkgConfig::KISSFFT PkgConfig::LIBCRYPTO
                                           ${_style_openmp_link} m)
if(NOT _style_openmp_link AND OpenMP_C_FLAGS)
  target_link_options(style_static INTERFACE ${OpenMP_C_FLAGS})
endif()

# A sanitized build's objects need the sanitizer runtimes, first in the executable: whoever
# links the library (shared or static) links with the same flags.
set(_style_sanitize_pc "")
if(STYLE_SANITIZE)
  target_link_options(style INTERFACE -fsanitize=address,undefined)
  target_link_options(style_static INTERFACE -fsanitize=address,undefined)
  set(_style_sanitize_pc " -fsanitize=address,undefined")
endif()

# ---- The CLI finds the installed libstyle.so relative to itself --------------------------
if(NOT CMAKE_INSTALL_FULL_LIBDIR IN_LIST _style_implicit_dirs)
  file(RELATIVE_PATH _rel "${CMAKE_INSTALL_FULL_BINDIR}" "${CMAKE_INSTALL_FULL_LIBDIR}")
  set_target_properties(libstyle_cli PROPERTIES INSTALL_RPATH "$ORIGIN/${_rel}")
endif()

# ---- Files -------------------------------------------------------------------------------
install(TARGETS style EXPORT libstyle-targets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime
                NAMELINK_COMPONENT development
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS style_static EXPORT libstyle-static-targets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS libstyle_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
install(FILES ${PROJECT_SOURCE_DIR}/docs/libstyle.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1
        COMPONENT runtime)
file(GLOB _style_bundled_models ${PROJECT_SOURCE_DIR}/models/*.safetensors)
install(FILES ${_style_bundled_models} ${PROJECT_SOURCE_DIR}/models/README.md
        DESTINATION ${CMAKE_INSTALL_DATADIR}/libstyle/models COMPONENT runtime)
install(FILES ${PROJECT_SOURCE_DIR}/include/libstyle.h ${PROJECT_SOURCE_DIR}/include/libstyle_train.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT development)

# CMake package: find_package(libstyle 0.1 CONFIG REQUIRED [COMPONENTS static]).
install(EXPORT libstyle-targets NAMESPACE libstyle:: DESTINATION ${STYLE_INSTALL_CMAKEDIR}
        COMPONENT development)
install(EXPORT libstyle-static-targets NAMESPACE libstyle:: DESTINATION ${STYLE_INSTALL_CMAKEDIR}
        COMPONENT development)
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/libstyle-config.cmake.in
                              ${_style_package_dir}/libstyle-config.cmake
                              INSTALL_DESTINATION ${STYLE_INSTALL_CMAKEDIR})
# Same major version = same SOVERSION = compatible (docs/install.md, "ABI").
write_basic_package_version_file(${_style_package_dir}/libstyle-config-version.cmake
                                 COMPATIBILITY SameMajorVersion)
install(FILES ${_style_package_dir}/libstyle-config.cmake
              ${_style_package_dir}/libstyle-config-version.cmake
        DESTINATION ${STYLE_INSTALL_CMAKEDIR} COMPONENT development)

# pkg-config file. Its prefix is the one given at install time (cmake --install --prefix P),
# so it is written by the install step itself from a template configured now.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(STYLE_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
else()
  set(STYLE_PC_LIBDIR "\${exec_prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(STYLE_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(STYLE_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
set(STYLE_PC_PREFIX "@CMAKE_INSTALL_PREFIX@") # filled in at install time
set(STYLE_PC_LIBS_EXTRA "${_style_sanitize_pc}")
# oneDNN has no .pc file: name it (with its directory when the linker would not look there).
set(STYLE_PC_LIBS_PRIVATE "-ldnnl")
get_target_property(_dnnl_location DNNL::dnnl LOCATION)
if(_dnnl_location)
  get_filename_component(_dir "${_dnnl_location}" DIRECTORY)
  if(NOT _dir IN_LIST _style_implicit_dirs)
    set(STYLE_PC_LIBS_PRIVATE "-L${_dir} -ldnnl")
  endif()
endif()
string(APPEND STYLE_PC_LIBS_PRIVATE "${_style_openmp_pc} -lm")
configure_file(${CMAKE_CURRENT_LIST_DIR}/libstyle.pc.in ${_style_package_dir}/libstyle.pc.in @ONLY)

if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(_pc_dir "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
else()
  set(_pc_dir "\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/pkgconfig")
endif()
install(CODE "set(_style_pc_template \"${_style_package_dir}/libstyle.pc.in\")
set(_style_pc_file \"\$ENV{DESTDIR}${_pc_dir}/libstyle.pc\")" COMPONENT development)
install(CODE [[
message(STATUS "Installing: ${_style_pc_file}")
configure_file("${_style_pc_template}" "${_style_pc_file}" @ONLY)
list(APPEND CMAKE_INSTALL_MANIFEST_FILES "${_style_pc_file}")
]] COMPONENT development)

unset(_name)
unset(_dir)
unset(_rel)
unset(_pc_dir)
unset(_dnnl_location)
