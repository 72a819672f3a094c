// An async handler (an ES module): answers with what Lambda gave it.
export const handler = async (event, context) => {
  console.log('hello from node', JSON.stringify(event));
  if (event.fail) {
    const err = new Error(`cannot greet ${event.fail}`);
    err.name = 'GreetingFailed';
    throw err;
  }
  return {
    message: `${process.env.GREETING}, ${event.name || 'world'}!`,
    stage: process.env.STAGE,
    logLevel: process.env.LOG_LEVEL,
    context: {
      awsRequestId: context.awsRequestId,
      functionName: context.functionName,
      functionVersion: context.functionVersion,
      invokedFunctionArn: context.invokedFunctionArn,
      memoryLimitInMB: context.memoryLimitInMB,
      logGroupName: context.logGroupName,
      logStreamName: context.logStreamName,
      remaining: context.getRemainingTimeInMillis(),
      clientContext: context.clientContext || null,
    },
    env: {
      AWS_LAMBDA_FUNCTION_NAME: process.env.AWS_LAMBDA_FUNCTION_NAME,
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
      AWS_EXECUTION_ENV: process.env.AWS_EXECUTION_ENV,
      LAMBDA_TASK_ROOT: process.env.LAMBDA_TASK_ROOT,
      _HANDLER: process.env._HANDLER,
      AWS_REGION: process.env.AWS_REGION,
    },
  };
};
