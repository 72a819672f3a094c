// A callback handler (CommonJS). Lambda waits for the event loop to be
// empty before it answers (context.callbackWaitsForEmptyEventLoop), so the
// line logged by the timer after the callback is in this invocation's log.
let calls = 0;

exports.handler = (event, context, callback) => {
  calls += 1;
  if (event.fail) {
    callback(new TypeError(`bad event: ${event.fail}`));
    return;
  }
  setTimeout(() => console.log(`timer after the callback (call ${calls})`), 100);
  callback(null, { calls, waits: context.callbackWaitsForEmptyEventLoop, requestId: context.awsRequestId });
};
