// Aligned tables and field lists of controller answers (see table.h).
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "table.h"
#include "tc_assert.h"
#include "tigerctl.h"

#define JSON_INTEGER_MAX 9007199254740991.0 // 2^53 - 1: beyond it a double is not exact
#define JSON_PATH_DEPTH_MAX 4u                 // "a.b.c.d"
#define JSON_NAME_SIZE_MAX 64u                 // one member name of a path, NUL included

_Static_assert(TIGERCTL_CELL_SIZE_MAX >= 8u, "a cell holds at least \"...\" and a number");

static bool number_integer(const cJSON *item, int64_t *value) {
    if (!cJSON_IsNumber(item)) return false;
    const double number = item->valuedouble;
    if (!(number >= -JSON_INTEGER_MAX && number <= JSON_INTEGER_MAX)) return false; // NaN too
    const int64_t integer = (int64_t)number;
    if ((double)integer != number) return false;
    *value = integer;
    return true;
}

const cJSON *tigerctl_json_member(const cJSON *object, const char *path) {
    tc_assert(path != NULL && path[0] != '\0');
    const cJSON *item = object;
    const char *name = path;
    for (uint32_t depth = 0; item != NULL; depth++) {
        tc_assert(depth < JSON_PATH_DEPTH_MAX);
        const char *dot = strchr(name, '.');
        if (dot == NULL) return cJSON_GetObjectItemCaseSensitive(item, name);
        char segment[JSON_NAME_SIZE_MAX];
        const size_t size = (size_t)(dot - name);
        tc_assert(size > 0 && size < sizeof(segment));
        memcpy(segment, name, size);
        segment[size] = '\0';
        item = cJSON_GetObjectItemCaseSensitive(item, segment);
        name = dot + 1;
    }
    return NULL;
}

bool tigerctl_json_integer(const cJSON *object, const char *path, int64_t *value) {
    tc_assert(path != NULL && value != NULL);
    return number_integer(tigerctl_json_member(object, path), value);
}

const char *tigerctl_json_string(const cJSON *object, const char *path) {
    const cJSON *item = tigerctl_json_member(object, path);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

// A cell being written: sanitized text, cut with "..." when it does not fit.
struct cell {
    char *text;
    uint32_t size; // capacity, NUL included
    uint32_t at;
    bool cut;
};

static void cell_put(struct cell *cell, const char *text) {
    for (const char *p = text; *p != '\0' && !cell->cut; p++) {
        if (cell->at + 1 == cell->size) {
            cell->cut = true;
            break;
        }
        const unsigned char c = (unsigned char)*p;
        cell->text[cell->at++] = c >= 0x20 && c <= 0x7e ? (char)c : '?';
    }
    cell->text[cell->at] = '\0';
    if (cell->cut) memcpy(cell->text + cell->size - 4, "...", 4);
}

static void cell_put_integer(struct cell *cell, const cJSON *item) {
    int64_t value = 0;
    char digits[24];
    if (number_integer(item, &value)) {
        (void)snprintf(digits, sizeof(digits), "%lld", (long long)value);
        cell_put(cell, digits);
    } else {
        cell_put(cell, "?");
    }
}

static void cell_list(struct cell *cell, const cJSON *item) {
    if (!cJSON_IsArray(item)) {
        cell_put(cell, "?");
        return;
    }
    if (cJSON_GetArraySize(item) == 0) {
        cell_put(cell, "-");
        return;
    }
    const cJSON *element = NULL;
    bool first = true;
    cJSON_ArrayForEach(element, item) {
        if (!first) cell_put(cell, ",");
        first = false;
        if (cJSON_IsString(element)) {
            cell_put(cell, element->valuestring);
        } else {
            cell_put_integer(cell, element);
        }
    }
}

static void cell_counts(struct cell *cell, const cJSON *item) {
    if (!cJSON_IsObject(item)) {
        cell_put(cell, "?");
        return;
    }
    if (cJSON_GetArraySize(item) == 0) {
        cell_put(cell, "-");
        return;
    }
    const cJSON *member = NULL;
    bool first = true;
    cJSON_ArrayForEach(member, item) {
        if (!first) cell_put(cell, ", ");
        first = false;
        cell_put_integer(cell, member);
        cell_put(cell, " ");
        cell_put(cell, member->string);
    }
}

static void cell_json(struct cell *cell, const cJSON *item) {
    char *text = cJSON_PrintUnformatted(item);
    tc_assert(text != NULL);
    cell_put(cell, text);
    cJSON_free(text);
}

static void cell_value(struct cell *cell, enum tigerctl_cell kind, const cJSON *item) {
    switch (kind) {
    case TIGERCTL_CELL_TEXT:
        if (!cJSON_IsString(item)) {
            cell_put(cell, "?");
        } else {
            cell_put(cell, item->valuestring[0] != '\0' ? item->valuestring : "-");
        }
        break;
    case TIGERCTL_CELL_INTEGER: cell_put_integer(cell, item); break;
    case TIGERCTL_CELL_BOOL:
        if (!cJSON_IsBool(item)) {
            cell_put(cell, "?");
        } else {
            cell_put(cell, cJSON_IsTrue(item) ? "yes" : "no");
        }
        break;
    case TIGERCTL_CELL_LIST: cell_list(cell, item); break;
    case TIGERCTL_CELL_COUNTS: cell_counts(cell, item); break;
    case TIGERCTL_CELL_JSON: cell_json(cell, item); break;
    case TIGERCTL_CELL_CUSTOM:
    default: tc_unreachable();
    }
}

// Cuts a cell's text to the column's width_max, ending it in "...".
static void cell_narrow(const struct tigerctl_column *column, char text[TIGERCTL_CELL_SIZE_MAX]) {
    tc_assert(column->width_max == 0 || column->width_max >= 4);
    tc_assert(column->width_max < TIGERCTL_CELL_SIZE_MAX);
    if (column->width_max == 0 || strlen(text) <= column->width_max) return;
    memcpy(text + column->width_max - 3, "...", 4);
    tc_assert(strlen(text) == column->width_max);
}

static void cell_fill(const struct tigerctl_column *column, const cJSON *row,
                      char text[TIGERCTL_CELL_SIZE_MAX]) {
    struct cell cell = {.text = text, .size = TIGERCTL_CELL_SIZE_MAX, .at = 0, .cut = false};
    text[0] = '\0';
    if (column->kind == TIGERCTL_CELL_CUSTOM) {
        tc_assert(column->format != NULL && column->field == NULL);
        column->format(row, text, TIGERCTL_CELL_SIZE_MAX);
        tc_assert(strnlen(text, TIGERCTL_CELL_SIZE_MAX) < TIGERCTL_CELL_SIZE_MAX);
        return;
    }
    tc_assert(column->field != NULL && column->format == NULL);
    const cJSON *item = tigerctl_json_member(row, column->field);
    if (!cJSON_IsObject(row)) {
        cell_put(&cell, "?");
    } else if (item == NULL || cJSON_IsNull(item)) {
        cell_put(&cell, "-");
    } else {
        cell_value(&cell, column->kind, item);
    }
    tc_assert(cell.at < cell.size);
}

void tigerctl_cell_format(const struct tigerctl_column *column, const cJSON *row,
                          char text[TIGERCTL_CELL_SIZE_MAX]) {
    tc_assert(column != NULL && text != NULL);
    cell_fill(column, row, text);
    cell_narrow(column, text);
}

void tigerctl_cell_printf(char *text, uint32_t size, const char *format, ...) {
    tc_assert(text != NULL && format != NULL);
    tc_assert(size >= 4);
    va_list args;
    va_start(args, format);
    const int written = vsnprintf(text, size, format, args);
    va_end(args);
    if (written >= (int)size) memcpy(text + size - 4, "...", 4);
}

static void line_print(FILE *out, const struct tigerctl_column *columns, uint32_t column_count,
                       const uint32_t *widths, char cells[][TIGERCTL_CELL_SIZE_MAX]) {
    for (uint32_t i = 0; i < column_count; i++) {
        const bool right = columns[i].kind == TIGERCTL_CELL_INTEGER;
        const bool last = i + 1 == column_count;
        (void)fputs(i == 0 ? "" : "  ", out);
        if (right) {
            (void)fprintf(out, "%*s", (int)widths[i], cells[i]);
        } else {
            (void)fprintf(out, "%-*s", last ? 0 : (int)widths[i], cells[i]);
        }
    }
    (void)fputc('\n', out);
}

uint32_t tigerctl_table_print(FILE *out, const struct tigerctl_column *columns,
                              uint32_t column_count, const cJSON *rows) {
    tc_assert(out != NULL && columns != NULL);
    tc_assert(column_count > 0 && column_count <= TIGERCTL_TABLE_COLUMNS_MAX);
    tc_assert(cJSON_IsArray(rows));
    uint32_t widths[TIGERCTL_TABLE_COLUMNS_MAX];
    char cells[TIGERCTL_TABLE_COLUMNS_MAX][TIGERCTL_CELL_SIZE_MAX];
    for (uint32_t i = 0; i < column_count; i++) widths[i] = (uint32_t)strlen(columns[i].header);
    const cJSON *row = NULL;
    cJSON_ArrayForEach(row, rows) {
        for (uint32_t i = 0; i < column_count; i++) {
            char scratch[TIGERCTL_CELL_SIZE_MAX];
            tigerctl_cell_format(&columns[i], row, scratch);
            const uint32_t width = (uint32_t)strlen(scratch);
            if (width > widths[i]) widths[i] = width;
        }
    }
    for (uint32_t i = 0; i < column_count; i++) {
        (void)snprintf(cells[i], sizeof(cells[i]), "%s", columns[i].header);
    }
    line_print(out, columns, column_count, widths, cells);
    uint32_t count = 0;
    cJSON_ArrayForEach(row, rows) {
        for (uint32_t i = 0; i < column_count; i++) {
            tigerctl_cell_format(&columns[i], row, cells[i]);
        }
        line_print(out, columns, column_count, widths, cells);
        count++;
    }
    tc_assert(count == (uint32_t)cJSON_GetArraySize(rows));
    return count;
}

void tigerctl_fields_print(FILE *out, const struct tigerctl_column *columns, uint32_t column_count,
                           const cJSON *object) {
    tc_assert(out != NULL && columns != NULL);
    tc_assert(column_count > 0);
    uint32_t width = 0;
    for (uint32_t i = 0; i < column_count; i++) {
        const uint32_t size = (uint32_t)strlen(columns[i].header);
        if (size > width) width = size;
    }
    char cell[TIGERCTL_CELL_SIZE_MAX];
    for (uint32_t i = 0; i < column_count; i++) {
        tigerctl_cell_format(&columns[i], object, cell);
        (void)fprintf(out, "%-*s  %s\n", (int)width, columns[i].header, cell);
    }
}
