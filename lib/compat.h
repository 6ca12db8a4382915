/*
 * compat.h - the first include of every .c in cdt.
 *
 * Defines _GNU_SOURCE so the Linux interfaces cdt relies on (O_PATH,
 * O_TMPFILE, renameat2, explicit_bzero, pipe2, memmem) are declared, and
 * pulls in the few system headers nearly every module needs.  openat2 has
 * no glibc wrapper on Debian 12: lib/path.c calls it through syscall(2).
 */
#ifndef CDT_COMPAT_H
#define CDT_COMPAT_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#define CDT_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#if defined(__GNUC__)
#define CDT_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define CDT_NORETURN __attribute__((noreturn))
#else
#define CDT_PRINTF(f, a)
#define CDT_NORETURN
#endif

#endif
