#ifndef TIGERCTL_TABLE_H
#define TIGERCTL_TABLE_H

// Human output of controller answers: aligned tables of JSON arrays of objects, and aligned
// "label  value" lists of one JSON object. Two passes over the JSON (widths, then lines), no
// allocation beyond one cell at a time; every string the controller sent is sanitized
// (tigerctl_sanitize) and cut to TIGERCTL_CELL_SIZE_MAX - 1 bytes ("..." marks the cut).

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct cJSON;

#define TIGERCTL_TABLE_COLUMNS_MAX 12u
#define TIGERCTL_CELL_SIZE_MAX 100u // one cell's text, NUL included

enum tigerctl_cell {
    TIGERCTL_CELL_TEXT,    // a string
    TIGERCTL_CELL_INTEGER, // an integral number; right-aligned
    TIGERCTL_CELL_BOOL,    // true/false as yes/no
    TIGERCTL_CELL_LIST,    // an array of integers or strings, joined by ','
    TIGERCTL_CELL_COUNTS,  // an object of integers: "3 active, 1 down" (in the answer's order)
    TIGERCTL_CELL_JSON,    // any value, as compact JSON
    TIGERCTL_CELL_CUSTOM,  // column->format(row): derived from several members
};

typedef void (*tigerctl_cell_format_fn)(const struct cJSON *row, char *cell, uint32_t size);

struct tigerctl_column {
    const char *header; // table header, or the label in a field list
    const char *field;  // the row's member, "a.b" for a member of a member (NULL for CUSTOM)
    enum tigerctl_cell kind;
    tigerctl_cell_format_fn format; // TIGERCTL_CELL_CUSTOM only; writes printable ASCII
    uint32_t width_max; // cut longer cells to this many bytes ("..." marks it); 0: the cell's size
};

// One cell's text for a row object: the member's value formatted per column->kind; "-" for a
// missing or null member (or an empty list); "?" for a member of another type; cut to
// column->width_max.
void tigerctl_cell_format(const struct tigerctl_column *column, const struct cJSON *row,
                          char cell[TIGERCTL_CELL_SIZE_MAX]);

// Prints a header line and one line per element of rows (a JSON array of objects): columns two
// spaces apart, integers right-aligned, no trailing spaces. Returns the number of rows printed.
uint32_t tigerctl_table_print(FILE *out, const struct tigerctl_column *columns,
                              uint32_t column_count, const struct cJSON *rows);

// Prints one line per column, "label  value", labels padded to the widest.
void tigerctl_fields_print(FILE *out, const struct tigerctl_column *columns, uint32_t column_count,
                           const struct cJSON *object);

// snprintf that keeps the cut visible: a text longer than the cell ends in "...".
void tigerctl_cell_printf(char *cell, uint32_t size, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

// The member at path ("seq", or "audit.seq" for a member of a member, at most 4 deep), or NULL
// when object is NULL or not an object or the member is missing.
const struct cJSON *tigerctl_json_member(const struct cJSON *object, const char *path);

// The integer value of a member (false when missing, not a number, not integral, or beyond
// +-2^53).
bool tigerctl_json_integer(const struct cJSON *object, const char *path, int64_t *value);

// A member's string, or NULL when missing or not a string.
const char *tigerctl_json_string(const struct cJSON *object, const char *path);

#endif
