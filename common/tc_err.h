#ifndef TC_ERR_H
#define TC_ERR_H

// Errors are negative return codes; 0 is success. Operating errors are returned, programmer errors
// are asserted. One X-macro table generates the enum and tc_strerror().
#define TC_ERR_TABLE(X)                                                                            \
    X(TC_OK, 0, "ok")                                                                              \
    X(TC_EINVAL, -1, "invalid argument")                                                           \
    X(TC_ECORRUPT, -2, "checksum or structure mismatch")                                           \
    X(TC_EIO, -3, "input/output error")                                                            \
    X(TC_EBUSY, -4, "resource busy (bounded queue or pool full)")                                  \
    X(TC_EAGAIN, -5, "try again")                                                                  \
    X(TC_ENOSPC, -6, "capacity exhausted")                                                         \
    X(TC_ENOENT, -7, "not found")                                                                  \
    X(TC_EEXIST, -8, "already exists")                                                             \
    X(TC_EPERM, -9, "not permitted")                                                               \
    X(TC_ETOOBIG, -10, "too large")                                                                \
    X(TC_ENOMEM, -11, "out of memory")                                                             \
    X(TC_ERANGE, -12, "out of range")

enum tc_err {
#define TC_ERR_ENUM(name, value, text) name = value,
    TC_ERR_TABLE(TC_ERR_ENUM)
#undef TC_ERR_ENUM
};

const char *tc_strerror(int code);
const char *tc_errname(int code);

#endif
