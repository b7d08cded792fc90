#include "tc_err.h"

const char *tc_strerror(int code) {
    switch (code) {
#define TC_ERR_CASE(name, value, text)                                                             \
    case value: return text;
        TC_ERR_TABLE(TC_ERR_CASE)
#undef TC_ERR_CASE
    default: return "unknown error";
    }
}

const char *tc_errname(int code) {
    switch (code) {
#define TC_ERR_CASE(name, value, text)                                                             \
    case value: return #name;
        TC_ERR_TABLE(TC_ERR_CASE)
#undef TC_ERR_CASE
    default: return "TC_E?";
    }
}
