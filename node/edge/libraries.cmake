# Libraries of tc_edge (included by node/CMakeLists.txt). libsodium (HMAC-SHA-256, Ed25519) comes
# through tc_common; cJSON parses JWT claims and request frames (docs/dependencies.md).
pkg_check_modules(CJSON REQUIRED IMPORTED_TARGET libcjson)
target_link_libraries(tc_edge PUBLIC PkgConfig::CJSON)
