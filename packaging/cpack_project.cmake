# CPACK_PROJECT_CONFIG_FILE (cmake/tc_packaging.cmake): read by cpack once per generator.
# Both packages carry the common component `tigerchat`; the .deb adds Debian's changelog.gz and
# lintian overrides (component tigerchat-deb), the .rpm its data directories with their owner
# (component tigerchat-rpm: the deb's postinst creates them instead).
if(CPACK_GENERATOR STREQUAL "DEB")
  set(CPACK_COMPONENTS_ALL tigerchat tigerchat-deb)
elseif(CPACK_GENERATOR STREQUAL "RPM")
  set(CPACK_COMPONENTS_ALL tigerchat tigerchat-rpm)
endif()
