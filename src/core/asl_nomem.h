/*
 * asl_nomem.h - out of memory, noted (inside the core).
 *
 * Each place that fails for want of memory reports ASL_NOMEM, and
 * jansson's allocator (asl_json.c) counts its own failures: the thread's
 * count moves. A compile or a validation that fails while it moved answers
 * SFN_ENOMEM, never a diagnostic: a definition is not called invalid
 * because memory ran out.
 */
#ifndef ASL_NOMEM_H
#define ASL_NOMEM_H

/* Allocation failures noted on this thread so far. */
unsigned long asl__nomem_count(void);
/* Note one; returns the message "out of memory". */
const char *asl__nomem(void);
#define ASL_NOMEM asl__nomem()

#endif
