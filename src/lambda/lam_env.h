/*
 * lam_env.h - the names of the environment variables the local Lambda owns.
 *
 * Header only, so that the template loader (which refuses them in
 * --env-vars) and the local Lambda (lam_pool.c sets them, lam.c refuses
 * them as overrides) share one list without linking each other.
 *
 * LAM_OWNED_ENV_NAMES: what every function process gets from sfnd for the
 * Runtime API and its identity. Nothing may replace them: not a template's
 * Environment (dropped, as AWS refuses reserved keys), not --env-vars
 * (refused at start-up), not lam_function_def.env_override (-EINVAL).
 *
 * The other variables lam_pool.c sets (AWS_REGION, AWS_DEFAULT_REGION,
 * AWS_EXECUTION_ENV, AWS_LAMBDA_INITIALIZATION_TYPE, TZ, LANG, PATH,
 * AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) are defaults:
 * a template's Environment cannot change them, an env_override can.
 */
#ifndef SFN_LAM_ENV_H
#define SFN_LAM_ENV_H

#define LAM_OWNED_ENV_NAMES                                                                        \
    "AWS_LAMBDA_RUNTIME_API", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION",           \
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_LOG_GROUP_NAME",                            \
        "AWS_LAMBDA_LOG_STREAM_NAME", "_HANDLER", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR"

/* The credentials every function gets unless --env-vars gives others; the
 * runner signs forwarded tasks (run_tasks_fwd.c) with the same. */
#define LAM_DEFAULT_ACCESS_KEY_ID "AKIALOCALSFND0000000"
#define LAM_DEFAULT_SECRET_ACCESS_KEY "localsfndlocalsfndlocalsfndlocalsfnd0000"
#define LAM_DEFAULT_SESSION_TOKEN "local-sfnd-session-token"

#endif
