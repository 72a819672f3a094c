/*
 * sfnd_build.h - `sfnd build` (sfnd_build.c): the template's makefile
 * functions built as `sam build` builds them. Called by sfnd's main when
 * its first argument is "build"; argv[0] is "build".
 *
 * Must not: start the service.
 */
#ifndef SFND_BUILD_H
#define SFND_BUILD_H

/* Returns the process's exit status: 0 when every build succeeded. */
int sfnd_build_main(int argc, char **argv);

/* mkdir -p (mode 0755): path and every missing parent. Returns 0, or -1 with
 * errno set. Shared with sfnd's main (its data directories). */
int sfnd_mkdir_p(const char *path);

#endif
