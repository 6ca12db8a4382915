/*
 * banned.h - libc calls that cdt never uses, made into compile errors.
 *
 * Included last by every header in lib/.  Each has a bounded or safer
 * replacement: cdt_buf_addf for sprintf/strcat, memcpy with a known
 * length for strcpy, strtol with checks for atoi, posix_spawn or execvp
 * for system, mkstemp/O_TMPFILE for mktemp.
 */
#ifndef CDT_BANNED_H
#define CDT_BANNED_H

#define CDT_BANNED(f) sorry_##f##_is_banned_in_cdt

#undef strcpy
#define strcpy(x, y) CDT_BANNED(strcpy)
#undef strcat
#define strcat(x, y) CDT_BANNED(strcat)
#undef sprintf
#define sprintf(...) CDT_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) CDT_BANNED(vsprintf)
#undef strtok
#define strtok(x, y) CDT_BANNED(strtok)
#undef gets
#define gets(x) CDT_BANNED(gets)
#undef atoi
#define atoi(x) CDT_BANNED(atoi)
#undef system
#define system(x) CDT_BANNED(system)
#undef mktemp
#define mktemp(x) CDT_BANNED(mktemp)

#endif
