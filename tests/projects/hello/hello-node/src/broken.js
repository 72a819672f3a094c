// Needs a package that was never installed: an init error
// (Runtime.ImportModuleError) on every invocation.
const missing = require('left-pad-that-is-not-installed');

exports.handler = async () => missing('x', 3);
