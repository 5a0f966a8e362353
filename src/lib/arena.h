/* A bump allocator for the life of one command: parsed arguments live here
 * and go away together when the command is done. */
#ifndef IMAPCID_ARENA_H
#define IMAPCID_ARENA_H

#include <stddef.h>

struct arena_chunk;

struct arena {
	struct arena_chunk *head;
	size_t total; /* bytes handed out, for limits */
};

#define ARENA_INIT                                                             \
	{                                                                      \
		NULL, 0                                                        \
	}

/* NULL when memory is exhausted. */
void *arena_alloc(struct arena *a, size_t n);
char *arena_strndup(struct arena *a, const char *s, size_t n);
void arena_free(struct arena *a);

#endif
