// Keeps tc_test_lib non-empty before any helper exists.
typedef int tc_test_lib_keep;
