/*
 * bootstrap_main.c - the main of every function's `bootstrap`, compiled
 * once per function with -DSAGA_HANDLER=<name>_handler. It opens the store
 * (a failure goes to /runtime/init/error) and runs the Runtime API loop.
 */
#include "saga_fn.h"

#ifndef SAGA_HANDLER
#error "compile with -DSAGA_HANDLER=<handler>"
#endif

int main(void)
{
    return lrt_main(SAGA_HANDLER, saga_fn_init, saga_fn_cleanup);
}
