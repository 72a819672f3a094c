/*
 * arn.h - Step Functions ARNs, built and taken apart in one place:
 *   arn:aws:states:REGION:ACCOUNT:stateMachine:NAME
 *   arn:aws:states:REGION:ACCOUNT:execution:MACHINE:NAME
 *   arn:aws:states:REGION:ACCOUNT:express:MACHINE:NAME:UUID
 * A machine's ARN may carry a qualifier (":3" a version, ":prod" an
 * alias); an execution's ARN names the machine without it.
 *
 * Must not: allocate with anything but malloc (callers free()).
 */
#ifndef SFN_ARN_H
#define SFN_ARN_H

#include <stddef.h>

/* "arn:aws:states:REGION:ACCOUNT:KIND:NAME" (KIND e.g. "stateMachine",
 * "activity") into buf[len]: its length, or -1 when buf is too short. */
int sfn_arn_states(char *buf, size_t len, const char *region, const char *account,
                   const char *kind, const char *name);

/* The ARN of execution `name` of machine sm_arn: ":execution:" or, with
 * express_id (a UUID), ":express:...:name:express_id". A qualifier on
 * sm_arn is dropped. NULL when sm_arn is not a machine's ARN or out of
 * memory. */
char *sfn_arn_execution(const char *sm_arn, const char *name, const char *express_id);

/* The machine ARN of an execution ARN (either kind) into buf[len]: its
 * length, or -1 when exec_arn is not an execution's ARN or buf is short. */
int sfn_arn_machine_of(const char *exec_arn, char *buf, size_t len);

#endif
