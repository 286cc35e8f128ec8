/*
 * Counts the heap allocations made by the code linked into a test, to prove
 * that a table allocates nothing after its _new. The test links with
 * -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=aligned_alloc, so
 * every call from the test and the static libraries under test comes here
 * (shared libraries such as cmocka keep the real ones). Include in one file.
 */
#ifndef SYNGUARD_TEST_ALLOCCOUNT_H
#define SYNGUARD_TEST_ALLOCCOUNT_H

#include <stddef.h>

static size_t alloccount;

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_aligned_alloc(size_t align, size_t n);

void *__wrap_malloc(size_t n)
{
	alloccount++;
	return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
	alloccount++;
	return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
	alloccount++;
	return __real_realloc(p, n);
}

void *__wrap_aligned_alloc(size_t align, size_t n)
{
	alloccount++;
	return __real_aligned_alloc(align, n);
}

#endif
