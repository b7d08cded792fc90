# Packaging (docs/packaging.md): install() rules for the shipped binaries, their systemd units,
# default configuration and man pages, and CPack for one .deb and one .rpm named `tigerchat`.
# Included at the end of the root CMakeLists.txt, after every target exists.
#
#   cmake -S . -B build/packages -DCMAKE_BUILD_TYPE=Release
#   cmake --build build/packages -j2 --target tigerchat-node tigerchat-controller tigerctl
#   (cd build/packages && cpack -G DEB && cpack -G RPM)
#
# The files themselves live in packaging/ (units, maintainer scripts, default config, lintian and
# rpmlint overrides); tests/packaging/test_packages.sh builds, lints and installs the packages.

set(tc_pkg_dir ${PROJECT_SOURCE_DIR}/packaging)
set(tc_pkg_out ${PROJECT_BINARY_DIR}/packaging)
file(MAKE_DIRECTORY ${tc_pkg_out})

# ------------------------------------------------------------------------------------------------
# TC_STATIC (the option is declared in the root CMakeLists.txt): link the libraries Debian ships
# as position-independent static archives (.a) into the binaries, keep the rest dynamic.
#
# A fully static (-static / -static-pie) build is not possible with Debian 12's libraries:
# libcurl.a needs static libnghttp2, librtmp, libssh2, libpsl, libgssapi_krb5, libldap, liblber
# and libzstd, and Debian ships no .a for any of them (nor libcjson.a). So:
#   static:  libsodium, libhiredis, libsqlite3
#   dynamic: glibc (libc, libm), libcurl (and its own dependency tree), libssl/libcrypto,
#            libcjson, libz (SQLite's zlib dependency), ncurses (libncursesw, libtinfo)
# ncurses stays dynamic too: every distribution has libncursesw.so.6 / libtinfo.so.6 with its own
# terminfo, so embedding it gains nothing (and lintian calls it embedded-library, an error).
# OpenSSL stays dynamic on purpose: libcurl.so loads libssl.so.3 anyway, and two copies of
# OpenSSL in one process (a static one in the binary, interposing on the shared one libcurl
# uses) is a hazard; it also keeps OpenSSL's security updates with Debian's libssl3.
#
# Mechanism: the imported pkg-config targets live in subdirectory scopes, so instead of changing
# them this rewrites every project target's (INTERFACE_)LINK_LIBRARIES, replacing
# PkgConfig::X (when all of X's libraries are in the list above and have a .a) and absolute
# paths to lib<name>.so of those libraries with the .a files, plus X's other --static libraries.
if(TC_STATIC)
  set(tc_static_names sodium hiredis sqlite3)
  set(tc_static_dirs /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE} /usr/lib /lib/${CMAKE_LIBRARY_ARCHITECTURE})

  function(tc_static_archive name out)
    set(${out} "" PARENT_SCOPE)
    if(NOT name IN_LIST tc_static_names)
      return()
    endif()
    foreach(dir ${tc_static_dirs})
      if(EXISTS ${dir}/lib${name}.a)
        set(${out} ${dir}/lib${name}.a PARENT_SCOPE)
        return()
      endif()
    endforeach()
  endfunction()

  # "PkgConfig::X" -> the archives of X plus the libraries its static link needs; "" when X is
  # not fully static-capable (then it is left as it is).
  function(tc_static_pkg prefix out)
    set(${out} "" PARENT_SCOPE)
    set(libs $CACHE{${prefix}_LIBRARIES})
    set(static_libs $CACHE{${prefix}_STATIC_LIBRARIES})
    if(NOT libs)
      return()
    endif()
    set(result "")
    foreach(lib ${libs})
      tc_static_archive(${lib} archive)
      if(NOT archive)
        return()
      endif()
      list(APPEND result ${archive})
    endforeach()
    foreach(lib ${static_libs})
      if(NOT lib IN_LIST libs)
        tc_static_archive(${lib} archive)
        if(archive)
          list(APPEND result ${archive})
        else()
          list(APPEND result ${lib})
        endif()
      endif()
    endforeach()
    list(REMOVE_DUPLICATES result)
    set(${out} "${result}" PARENT_SCOPE)
  endfunction()

  # Rewrites one link list. Also returns the compile usage (include directories, other cflags)
  # of the pkg-config targets it replaced where that usage applied (not through $<LINK_ONLY:>),
  # so that the headers and flags those targets carried are kept.
  function(tc_static_rewrite_list input out out_includes out_cflags)
    set(result "")
    set(includes "")
    set(cflags "")
    foreach(item IN LISTS input)
      set(new "${item}")
      if(item MATCHES "PkgConfig::([A-Za-z0-9_]+)")
        set(prefix ${CMAKE_MATCH_1})
        tc_static_pkg(${prefix} archives)
        if(archives)
          if(item MATCHES "^\\$<LINK_ONLY:PkgConfig::${prefix}>$")
            set(new "")
            foreach(archive ${archives})
              list(APPEND new "$<LINK_ONLY:${archive}>")
            endforeach()
          elseif(item STREQUAL "PkgConfig::${prefix}")
            set(new "${archives}")
            list(APPEND includes $CACHE{${prefix}_INCLUDE_DIRS})
            list(APPEND cflags $CACHE{${prefix}_CFLAGS_OTHER})
          endif()
        endif()
      elseif(item MATCHES "^(.*/)?lib([A-Za-z0-9_]+)\\.so$")
        tc_static_archive(${CMAKE_MATCH_2} archive)
        if(archive)
          set(new ${archive})
        endif()
      endif()
      list(APPEND result ${new})
    endforeach()
    set(${out} "${result}" PARENT_SCOPE)
    set(${out_includes} "${includes}" PARENT_SCOPE)
    set(${out_cflags} "${cflags}" PARENT_SCOPE)
  endfunction()

  function(tc_static_targets dir out)
    get_property(targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
    get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
    foreach(subdir ${subdirs})
      tc_static_targets(${subdir} sub_targets)
      list(APPEND targets ${sub_targets})
    endforeach()
    set(${out} "${targets}" PARENT_SCOPE)
  endfunction()

  tc_static_targets(${PROJECT_SOURCE_DIR} tc_all_targets)
  foreach(target ${tc_all_targets})
    get_target_property(type ${target} TYPE)
    if(type STREQUAL "UTILITY" OR type STREQUAL "INTERFACE_LIBRARY")
      continue()
    endif()
    foreach(property LINK_LIBRARIES INTERFACE_LINK_LIBRARIES)
      get_target_property(value ${target} ${property})
      if(value)
        tc_static_rewrite_list("${value}" rewritten includes cflags)
        set_property(TARGET ${target} PROPERTY ${property} "${rewritten}")
        set(scope "")
        if(property STREQUAL "INTERFACE_LINK_LIBRARIES")
          set(scope "INTERFACE_")
        endif()
        if(includes)
          set_property(TARGET ${target} APPEND PROPERTY ${scope}INCLUDE_DIRECTORIES ${includes})
        endif()
        if(cflags)
          set_property(TARGET ${target} APPEND PROPERTY ${scope}COMPILE_OPTIONS ${cflags})
        endif()
      endif()
    endforeach()
  endforeach()
  message(STATUS "TC_STATIC: static libsodium, libhiredis, libsqlite3; dynamic glibc, libcurl, "
                 "OpenSSL, libcjson, libz, ncurses (docs/packaging.md)")
endif()

# ------------------------------------------------------------------------------------------------
# What the package ships.
set(tc_pkg_binaries tigerchat-node tigerchat-controller tigerctl)
if(TARGET tigerchat-tui)
  list(APPEND tc_pkg_binaries tigerchat-tui)
endif()

foreach(binary ${tc_pkg_binaries})
  if(NOT TARGET ${binary})
    # Never break a developer's configure; the package test fails on a missing binary.
    message(WARNING "packaging: target ${binary} does not exist: not packaged")
    list(REMOVE_ITEM tc_pkg_binaries ${binary})
    continue()
  endif()
  # Full RELRO and immediate binding (lintian: hardening-no-relro / -bindnow); PIE is already
  # Debian gcc's default. Link flags only: no object changes, so no new warnings elsewhere.
  set_property(TARGET ${binary} APPEND PROPERTY LINK_OPTIONS "LINKER:-z,relro" "LINKER:-z,now")
  install(TARGETS ${binary} RUNTIME DESTINATION bin COMPONENT tigerchat)
  # Stripped installs (cpack: CPACK_STRIP_FILES) also drop .comment (compiler versions), as
  # dh_strip does; the build-id note stays (rpmbuild wants it).
  install(CODE "if(CMAKE_INSTALL_DO_STRIP)
      execute_process(COMMAND \"${CMAKE_STRIP}\" --remove-section=.comment
                      \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/bin/${binary}\")
    endif()" COMPONENT tigerchat)
endforeach()

# Man pages: made from each binary's own --help when the package is staged (install(CODE), run by
# cpack), so they cannot drift from it and the normal build does not change at all; gzip -9n (no
# name, no timestamp) as Debian policy asks. packaging/man/manpage.cmake writes them.
find_program(TC_GZIP gzip REQUIRED)
foreach(binary ${tc_pkg_binaries})
  install(CODE "execute_process(COMMAND \"${CMAKE_COMMAND}\" \"-DBINARY=$<TARGET_FILE:${binary}>\"
      -DNAME=${binary} -DVERSION=${PROJECT_VERSION} -DGZIP=${TC_GZIP}
      \"-DOUT=\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/share/man/man1/${binary}.1\"
      -P \"${tc_pkg_dir}/man/manpage.cmake\" RESULT_VARIABLE tc_man_rc)
    if(NOT tc_man_rc EQUAL 0)
      message(FATAL_ERROR \"man page of ${binary} failed\")
    endif()" COMPONENT tigerchat)
endforeach()

# systemd units (hardened; packaging/systemd/). /usr/lib/systemd/system is the canonical place
# for both Debian 12 (lintian: systemd-service-in-odd-location) and RPM distributions.
install(FILES ${tc_pkg_dir}/systemd/tigerchat-node.service
              ${tc_pkg_dir}/systemd/tigerchat-controller.service
        DESTINATION lib/systemd/system PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
        COMPONENT tigerchat)

# Default configuration: conffiles (deb: packaging/deb/conffiles) and %config(noreplace) (rpm).
# Secrets are never shipped: the postinst generates /etc/tigerchat/jwt.key when it is absent.
install(FILES ${tc_pkg_dir}/config/node.conf ${tc_pkg_dir}/config/controller.env
        DESTINATION /etc/tigerchat PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
        COMPONENT tigerchat)

# Documentation: Debian wants copyright and a gzip'd changelog in /usr/share/doc/<package>.
configure_file(${tc_pkg_dir}/deb/changelog.in ${tc_pkg_out}/changelog @ONLY)
execute_process(COMMAND ${TC_GZIP} -9nf ${tc_pkg_out}/changelog RESULT_VARIABLE tc_gzip_rc)
if(NOT tc_gzip_rc EQUAL 0)
  message(FATAL_ERROR "packaging: gzip ${tc_pkg_out}/changelog failed")
endif()
install(FILES ${tc_pkg_dir}/deb/copyright ${tc_pkg_dir}/README.md
        DESTINATION share/doc/tigerchat COMPONENT tigerchat)
# Debian-only files (component tigerchat-deb) and RPM-only directories (component tigerchat-rpm):
# packaging/cpack_project.cmake picks the components per generator. Not part of `cmake --install`.
install(FILES ${tc_pkg_out}/changelog.gz DESTINATION share/doc/tigerchat
        COMPONENT tigerchat-deb EXCLUDE_FROM_ALL)
install(FILES ${tc_pkg_dir}/lintian/tigerchat DESTINATION share/lintian/overrides
        COMPONENT tigerchat-deb EXCLUDE_FROM_ALL)
# The rpm owns its data directories (%dir %attr below); the deb's postinst creates them instead,
# so that dpkg never tracks (or complains about) a directory holding data.
install(DIRECTORY DESTINATION /var/lib/tigerchat/node COMPONENT tigerchat-rpm EXCLUDE_FROM_ALL)
install(DIRECTORY DESTINATION /var/lib/tigerchat/controller COMPONENT tigerchat-rpm
        EXCLUDE_FROM_ALL)

# ------------------------------------------------------------------------------------------------
# CPack: one package, `tigerchat`, as .deb and .rpm.
set(CPACK_GENERATOR "DEB;RPM")
set(CPACK_PACKAGE_NAME tigerchat)
set(CPACK_PACKAGE_VENDOR "TigerChat")
set(CPACK_PACKAGE_CONTACT "TigerChat maintainers <maintainers@users.noreply.b-seed-72be820b.example>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "replicated chat backend: node, controller and tigerctl")
if(TARGET tigerchat-tui)
  set(tc_pkg_tools "tigerchat-tui (the dashboard), the tigerctl operator CLI, their hardened\nsystemd units and default configuration.")
else()
  set(tc_pkg_tools "the tigerctl operator CLI, their hardened systemd units and default\nconfiguration.")
endif()
set(CPACK_PACKAGE_DESCRIPTION
    "TigerChat is a chat backend engineered like a financial ledger: every room is a\n\
strongly ordered log replicated by a 3-replica Viewstamped Replication group,\n\
written to a checksummed, fsync'd write-ahead log and hash-chained per room.\n\
.\n\
This package contains tigerchat-node (replicas, WebSocket edge, admin HTTP),\n\
tigerchat-controller (the control plane with its signed audit chain),\n\
${tc_pkg_tools}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
    OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
set(CPACK_PACKAGE_CHECKSUM SHA256)
set(CPACK_OUTPUT_FILE_PREFIX ${PROJECT_BINARY_DIR}/packages)

# DEB
set(CPACK_DEBIAN_PACKAGE_NAME tigerchat)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT) # tigerchat_0.1.0_amd64.deb
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# adduser: the postinst creates the system user; the library dependencies come from shlibdeps.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "${CPACK_PACKAGE_DESCRIPTION}") # synopsis: the summary
# conffiles: /etc/tigerchat/node.conf and controller.env (dpkg keeps local changes on upgrade).
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${tc_pkg_dir}/deb/conffiles
    ${tc_pkg_dir}/deb/postinst ${tc_pkg_dir}/deb/prerm ${tc_pkg_dir}/deb/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)

# RPM
set(CPACK_RPM_PACKAGE_NAME tigerchat)
set(CPACK_RPM_FILE_NAME RPM-DEFAULT) # tigerchat-0.1.0-1.x86_64.rpm
set(CPACK_RPM_PACKAGE_RELEASE 1)
set(CPACK_RPM_PACKAGE_LICENSE "LicenseRef-TigerChat-unlicensed")
set(CPACK_RPM_PACKAGE_GROUP "System Environment/Daemons")
set(CPACK_RPM_PACKAGE_SUMMARY "Replicated chat backend: node, controller and tigerctl")
set(CPACK_RPM_PACKAGE_DESCRIPTION "${CPACK_PACKAGE_DESCRIPTION}")
set(CPACK_RPM_PACKAGE_URL "https://tigerchat.invalid/")
set(CPACK_PACKAGE_RELOCATABLE OFF)
set(CPACK_RPM_PACKAGE_RELOCATABLE OFF)
# Library requirements are the sonames rpmdeps reads from the binaries (libsodium.so.23()(64bit),
# libssl.so.3(OPENSSL_3.0.0)(64bit), ...): exact, and what RPM distributions' policies ask for
# (rpmlint: explicit-lib-dependency is an error). Explicit Requires name what no ELF header
# says: systemd for the units and scriptlets, shadow-utils for %pre, coreutils for %post.
set(CPACK_RPM_PACKAGE_AUTOREQPROV ON)
set(CPACK_RPM_PACKAGE_REQUIRES "systemd")
set(CPACK_RPM_PACKAGE_REQUIRES_PRE "shadow-utils")
set(CPACK_RPM_PACKAGE_REQUIRES_POST "systemd, coreutils")
set(CPACK_RPM_PACKAGE_REQUIRES_PREUN "systemd")
set(CPACK_RPM_PACKAGE_REQUIRES_POSTUN "systemd")
set(CPACK_RPM_PRE_INSTALL_SCRIPT_FILE ${tc_pkg_dir}/rpm/pre.sh)
set(CPACK_RPM_POST_INSTALL_SCRIPT_FILE ${tc_pkg_dir}/rpm/post.sh)
set(CPACK_RPM_PRE_UNINSTALL_SCRIPT_FILE ${tc_pkg_dir}/rpm/preun.sh)
set(CPACK_RPM_POST_UNINSTALL_SCRIPT_FILE ${tc_pkg_dir}/rpm/postun.sh)
set(CPACK_RPM_CHANGELOG_FILE ${tc_pkg_dir}/rpm/changelog)
set(CPACK_RPM_USER_FILELIST
    "%config(noreplace) /etc/tigerchat/node.conf"
    "%config(noreplace) /etc/tigerchat/controller.env"
    "%dir %attr(0750,tigerchat,tigerchat) /var/lib/tigerchat"
    "%dir %attr(0750,tigerchat,tigerchat) /var/lib/tigerchat/node"
    "%dir %attr(0750,tigerchat,tigerchat) /var/lib/tigerchat/controller"
    "%doc /usr/share/doc/tigerchat/README.md")
# Directories owned by the system (filesystem, man-db, systemd): never listed as ours.
set(CPACK_RPM_EXCLUDE_FROM_AUTO_FILELIST_ADDITION
    /usr/lib/systemd /usr/lib/systemd/system /usr/share/man /usr/share/man/man1 /var /var/lib)
set(CPACK_RPM_SPEC_MORE_DEFINE "%define _build_id_links none\n%define packager ${CPACK_PACKAGE_CONTACT}")

# One package per generator made of the common component and the generator's own one.
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_RPM_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
set(CPACK_COMPONENTS_ALL tigerchat tigerchat-deb tigerchat-rpm)
set(CPACK_PROJECT_CONFIG_FILE ${tc_pkg_dir}/cpack_project.cmake)

include(CPack)
