/* SPDX-License-Identifier: Apache-2.0 */
/* msegctl: plain-text tables whose columns are as wide as their widest cell. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "msegctl.h"

struct table {
	size_t ncols;
	size_t ncells, cap;
	char **cells; /* row-major, headers first */
	bool failed;  /* a cell could not be stored: printing reports -ENOMEM */
};

static void add(struct table *t, char *cell)
{
	if (!cell) {
		t->failed = true;
		return;
	}
	if (t->ncells == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		char **cells = realloc(t->cells, cap * sizeof(*cells));
		if (!cells) {
			free(cell);
			t->failed = true;
			return;
		}
		t->cells = cells;
		t->cap = cap;
	}
	t->cells[t->ncells++] = cell;
}

struct table *table_new(size_t ncols, const char *const *headers)
{
	struct table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->ncols = ncols;
	for (size_t i = 0; i < ncols; i++)
		add(t, strdup(headers[i]));
	return t;
}

void table_cell(struct table *t, const char *fmt, ...)
{
	char *cell = NULL;
	va_list ap;

	if (!t)
		return;
	va_start(ap, fmt);
	if (vasprintf(&cell, fmt, ap) < 0)
		cell = NULL;
	va_end(ap);
	add(t, cell);
}

size_t table_rows(const struct table *t)
{
	return t ? t->ncells / t->ncols - 1 : 0;
}

int table_print_free(struct table *t, FILE *f)
{
	if (!t)
		return -ENOMEM;
	int err = t->failed || t->ncells % t->ncols ? -ENOMEM : 0;
	if (!err && f) {
		size_t width[t->ncols];
		memset(width, 0, sizeof(width));
		for (size_t i = 0; i < t->ncells; i++) {
			size_t len = strlen(t->cells[i]);
			if (len > width[i % t->ncols])
				width[i % t->ncols] = len;
		}
		for (size_t i = 0; i < t->ncells; i++) {
			size_t col = i % t->ncols;
			if (col + 1 == t->ncols)
				fprintf(f, "%s\n", t->cells[i]); /* no trailing blanks */
			else
				fprintf(f, "%-*s  ", (int)width[col], t->cells[i]);
		}
	}
	for (size_t i = 0; i < t->ncells; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
	return err;
}
